// SPDX-License-Identifier: GPL-2.0
/*
 * The guest kernel has the syscall surface ordinary programs expect
 * (kernel-config/surface.config): each facility is used once, not just
 * probed for ENOSYS, and each prints one "ok:" or "FAIL:" line. Exit 1 if
 * any is missing. Runs as root (namespaces, fanotify, open_by_handle_at).
 *
 * Not checked here: signalfd(), because the default build puts checkpoint
 * at 327, which is signalfd4 (README, "ABI note"); rseq, which the config
 * leaves off until cr's userspace restorer handles it (surface.config).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <linux/aio_abi.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/membarrier.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/userfaultfd.h>

#include "lib/guest.h"

#define PAGE 4096

static const char *err(void)
{
	return strerror(errno);
}

/* A fresh kernel's lo is down; up, it gets 127.0.0.1 and ::1. */
static void lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM, 0), ok;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ok = s >= 0 && !ioctl(s, SIOCGIFFLAGS, &ifr);
	if (ok && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		ok = !ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	check(ok, "lo up (SIOCSIFFLAGS) %s", ok ? "" : err());
	if (s >= 0)
		close(s);
}

static void unix_socketpair(void)
{
	int sv[2];
	char b[8] = "";

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		check(0, "socketpair(AF_UNIX): %s", err());
		return;
	}
	check(write(sv[0], "pair", 4) == 4 && read(sv[1], b, 8) == 4 && !memcmp(b, "pair", 4),
	      "socketpair(AF_UNIX) carries bytes");
	close(sv[0]);
	close(sv[1]);
}

/* listen on @addr port 0, connect, accept, one message each way */
static int tcp_roundtrip(int family, const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int l, c = -1, a = -1, ok = 0;
	char b[8] = "";

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = family;
	if (family == AF_INET)
		inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	l = socket(family, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&ss, family == AF_INET ? sizeof(struct sockaddr_in) :
			  sizeof(struct sockaddr_in6)) || listen(l, 1) ||
	    getsockname(l, (void *)&ss, &len))
		goto out;
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&ss, len))
		goto out;
	a = accept(l, NULL, NULL);
	ok = a >= 0 && write(c, "ping", 4) == 4 && read(a, b, 8) == 4 && !memcmp(b, "ping", 4) &&
	     write(a, "pong", 4) == 4 && read(c, b, 8) == 4 && !memcmp(b, "pong", 4);
out:
	check(ok, "TCP connect to %s and back %s", text, ok ? "" : err());
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	return ok;
}

static void packet_socket(void)
{
	int s = socket(AF_PACKET, SOCK_DGRAM, 0);

	check(s >= 0, "socket(AF_PACKET) %s", s >= 0 ? "" : err());
	if (s >= 0)
		close(s);
}

/* sock_diag (UNIX_DIAG) lists a socketpair this process holds, by inode */
static void unix_diag(void)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q;
	char buf[8192];
	struct stat st;
	int sv[2], s, found = 0, done = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || fstat(sv[0], &st)) {
		check(0, "sock_diag: socketpair: %s", err());
		return;
	}
	s = socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = -1;
	q.req.udiag_show = UDIAG_SHOW_PEER;
	if (s < 0 || send(s, &q, sizeof(q), 0) != sizeof(q)) {
		check(0, "sock_diag: netlink request: %s", err());
		goto out;
	}
	while (!done) {
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (void *)buf;

		if (n <= 0)
			break;
		for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (((struct unix_diag_msg *)NLMSG_DATA(h))->udiag_ino == st.st_ino)
				found = 1;
		}
	}
	check(found, "sock_diag lists our AF_UNIX socket (inode %lu)", (unsigned long)st.st_ino);
out:
	if (s >= 0)
		close(s);
	close(sv[0]);
	close(sv[1]);
}

static void sysv_ipc(void)
{
	struct {
		long type;
		char text[8];
	} m = { 1, "msg" }, r;
	struct sembuf op = { 0, 1, 0 };
	int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	char *a = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
	char *b = id >= 0 ? shmat(id, NULL, SHM_RDONLY) : (void *)-1;

	if (a == (void *)-1 || b == (void *)-1) {
		check(0, "shmget/shmat: %s", err());
	} else {
		strcpy(a, "shared");
		check(a != b && !strcmp(b, "shared"), "shmget/shmat: two attaches share the segment");
	}
	if (a != (void *)-1)
		shmdt(a);
	if (b != (void *)-1)
		shmdt(b);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);

	id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	check(id >= 0 && !msgsnd(id, &m, sizeof(m.text), 0) &&
	      msgrcv(id, &r, sizeof(r.text), 1, IPC_NOWAIT) == sizeof(r.text) && !strcmp(r.text, "msg"),
	      "msgget/msgsnd/msgrcv %s", id >= 0 ? "" : err());
	if (id >= 0)
		msgctl(id, IPC_RMID, NULL);

	id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	check(id >= 0 && !semop(id, &op, 1) && semctl(id, 0, GETVAL) == 1, "semget/semop %s",
	      id >= 0 ? "" : err());
	if (id >= 0)
		semctl(id, 0, IPC_RMID);
}

static void posix_mq(void)
{
	struct mq_attr at = { .mq_maxmsg = 4, .mq_msgsize = 16 };
	char b[16] = "";
	unsigned prio = 0;
	mqd_t q;

	mq_unlink("/kckpt_surface");
	q = mq_open("/kckpt_surface", O_CREAT | O_EXCL | O_RDWR, 0600, &at);
	if (q == (mqd_t)-1) {
		check(0, "mq_open: %s", err());
		return;
	}
	check(!mq_send(q, "mq", 3, 7) && mq_receive(q, b, sizeof(b), &prio) == 3 && prio == 7 &&
	      !strcmp(b, "mq"), "mq_open/mq_send/mq_receive");
	mq_close(q);
	mq_unlink("/kckpt_surface");
}

static void advise(void)
{
	unsigned char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd, r;

	if (p == MAP_FAILED) {
		check(0, "mmap: %s", err());
		return;
	}
	memset(p, 0xaa, 2 * PAGE);
	r = madvise(p, PAGE, MADV_DONTNEED);
	check(!r && p[0] == 0 && p[PAGE - 1] == 0 && p[PAGE] == 0xaa,
	      "madvise(MADV_DONTNEED) zeroes a private anonymous page %s", r ? err() : "");
	r = madvise(p + PAGE, PAGE, MADV_FREE);
	check(!r, "madvise(MADV_FREE) %s", r ? err() : "");
	munmap(p, 2 * PAGE);

	fd = open("fadvise", O_CREAT | O_RDWR, 0600);
	r = fd < 0 ? errno : posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	check(!r, "posix_fadvise %s", r ? strerror(r) : "");
	if (fd >= 0)
		close(fd);
}

static void memfd(void)
{
	int fd = memfd_create("kckpt", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	char *p, b[8] = "";

	if (fd < 0 || ftruncate(fd, PAGE)) {
		check(0, "memfd_create: %s", err());
		return;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED)
		strcpy(p, "memfd");
	check(p != MAP_FAILED && pread(fd, b, 6, 0) == 6 && !strcmp(b, "memfd") &&
	      !fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) && ftruncate(fd, 0) && errno == EPERM,
	      "memfd_create: mmap, read back, F_SEAL_SHRINK");
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	close(fd);
}

static void notify(void)
{
	char buf[4096] __attribute__((aligned(8)));
	struct fanotify_event_metadata *md = (void *)buf;
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), f, ok = 0;
	ssize_t n;

	unlink("inotify_probe");
	if (fd >= 0 && inotify_add_watch(fd, ".", IN_CREATE) >= 0) {
		f = open("inotify_probe", O_CREAT | O_WRONLY, 0600);
		close(f);
		n = read(fd, buf, sizeof(buf));
		ok = n >= (ssize_t)sizeof(struct inotify_event) &&
		     (((struct inotify_event *)buf)->mask & IN_CREATE) &&
		     !strcmp(((struct inotify_event *)buf)->name, "inotify_probe");
	}
	check(ok, "inotify_init1: IN_CREATE seen %s", ok ? "" : err());
	if (fd >= 0)
		close(fd);

	ok = 0;
	fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY);
	if (fd >= 0 && !fanotify_mark(fd, FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD, ".")) {
		f = open("fanotify_probe", O_CREAT | O_WRONLY, 0600);
		close(f);
		n = read(fd, buf, sizeof(buf));
		ok = n >= (ssize_t)sizeof(*md) && FAN_EVENT_OK(md, n) && (md->mask & FAN_CLOSE_WRITE);
		if (ok && md->fd >= 0)
			close(md->fd);
	}
	check(ok, "fanotify_init/mark: FAN_CLOSE_WRITE seen %s", ok ? "" : err());
	if (fd >= 0)
		close(fd);

	fd = open(".", O_RDONLY | O_DIRECTORY);
	ok = fd >= 0 && !fcntl(fd, F_NOTIFY, DN_CREATE);
	check(ok, "fcntl(F_NOTIFY) (dnotify) %s", ok ? "" : err());
	if (fd >= 0)
		close(fd);
}

static void fd_events(void)
{
	struct itimerspec its = { .it_value = { 0, 10 * 1000 * 1000 } };
	struct epoll_event ev = { .events = EPOLLIN }, got;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), ep = epoll_create1(EPOLL_CLOEXEC), tfd;
	uint64_t v = 3;
	timer_t t;
	struct sigevent se = { .sigev_notify = SIGEV_NONE };

	ev.data.fd = efd;
	check(efd >= 0 && ep >= 0 && !epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) &&
	      write(efd, &v, 8) == 8 && epoll_wait(ep, &got, 1, 1000) == 1 && got.data.fd == efd &&
	      read(efd, &v, 8) == 8 && v == 3, "eventfd + epoll");
	close(efd);
	close(ep);

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	v = 0;
	check(tfd >= 0 && !timerfd_settime(tfd, 0, &its, NULL) && read(tfd, &v, 8) == 8 && v >= 1,
	      "timerfd fires %s", tfd >= 0 ? "" : err());
	close(tfd);

	its.it_value.tv_sec = 100;
	check(!timer_create(CLOCK_MONOTONIC, &se, &t) && !timer_settime(t, 0, &its, NULL) &&
	      !timer_gettime(t, &its) && its.it_value.tv_sec > 0 && !timer_delete(t),
	      "timer_create/settime/gettime (POSIX timers)");
}

static void aio(void)
{
	aio_context_t ctx = 0;
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	char b[8] = "";
	int fd = open("aio", O_CREAT | O_RDWR | O_TRUNC, 0600), ok = 0;

	if (fd < 0 || write(fd, "aiodata", 7) != 7 || syscall(SYS_io_setup, 8, &ctx)) {
		check(0, "io_setup: %s", err());
		goto out;
	}
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_buf = (uintptr_t)b;
	cb.aio_nbytes = 7;
	cb.aio_data = 0xa10;
	ok = syscall(SYS_io_submit, ctx, 1, cbs) == 1 &&
	     syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL) == 1 && ev.data == 0xa10 && ev.res == 7 &&
	     !strcmp(b, "aiodata");
	check(ok, "io_setup/io_submit/io_getevents: a pread %s", ok ? "" : err());
	syscall(SYS_io_destroy, ctx);
out:
	if (fd >= 0)
		close(fd);
}

/* one IORING_OP_NOP through the rings */
static void uring(void)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqe;
	size_t sqsz, cqsz;
	char *sq, *cq;
	unsigned *tail, mask, idx, head;
	int fd, ok;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0) {
		check(0, "io_uring_setup: %s", err());
		return;
	}
	sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		sqsz = cqsz = sqsz > cqsz ? sqsz : cqsz;
	sq = mmap(NULL, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq :
		mmap(NULL, cqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		    fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		check(0, "io_uring: mmap of the rings: %s", err());
		close(fd);
		return;
	}
	tail = (unsigned *)(sq + p.sq_off.tail);
	mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	idx = *tail & mask;
	memset(&sqes[idx], 0, sizeof(sqes[idx]));
	sqes[idx].opcode = IORING_OP_NOP;
	sqes[idx].user_data = 0x1234;
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	ok = syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) == 1;
	head = *(unsigned *)(cq + p.cq_off.head);
	cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (head & *(unsigned *)(cq + p.cq_off.ring_mask));
	ok = ok && __atomic_load_n((unsigned *)(cq + p.cq_off.tail), __ATOMIC_ACQUIRE) != head &&
	     cqe->user_data == 0x1234 && cqe->res == 0;
	check(ok, "io_uring_setup/io_uring_enter: a NOP completes %s", ok ? "" : err());
	close(fd);
}

static void misc_syscalls(void)
{
	int r, fd, fd2, fd3, mount_id;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 42),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	struct uffdio_api api = { .api = UFFD_API };
	char b[16] = "";
	pid_t pid;
	int st;

	r = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	check(r > 0 && (r & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	      !syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) &&
	      !syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0),
	      "membarrier: query %#x, private expedited", r);

	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			_exit(2);
		_exit(syscall(__NR_getppid) == -1 && errno == 42 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = -1;
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "seccomp filter returns an errno for getppid (status %#x)", st);

	fd = open("fhandle", O_CREAT | O_RDWR | O_TRUNC, 0600);
	fh->handle_bytes = MAX_HANDLE_SZ;
	r = fd >= 0 && write(fd, "handle", 6) == 6 &&
	    !name_to_handle_at(AT_FDCWD, "fhandle", fh, &mount_id, 0);
	fd2 = r ? open_by_handle_at(AT_FDCWD, fh, O_RDONLY) : -1;
	check(fd2 >= 0 && read(fd2, b, 6) == 6 && !strcmp(b, "handle"),
	      "name_to_handle_at/open_by_handle_at %s", fd2 >= 0 ? "" : err());
	free(fh);

	fd3 = dup(fd);
	check(fd2 >= 0 && !syscall(__NR_kcmp, getpid(), getpid(), KCMP_FILE, fd, fd3) &&
	      syscall(__NR_kcmp, getpid(), getpid(), KCMP_FILE, fd, fd2) > 0, "kcmp(KCMP_FILE)");
	close(fd);
	close(fd2);
	close(fd3);

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	r = fd >= 0 && !ioctl(fd, UFFDIO_API, &api);
	if (r) {
		void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct uffdio_register reg = {
			.range = { (uintptr_t)p, PAGE }, .mode = UFFDIO_REGISTER_MODE_MISSING
		};
		r = p != MAP_FAILED && !ioctl(fd, UFFDIO_REGISTER, &reg);
	}
	check(r, "userfaultfd: UFFDIO_API, UFFDIO_REGISTER %s", r ? "" : err());
	if (fd >= 0)
		close(fd);
}

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* process_vm_readv from a child, /proc/PID/task/TID/children, pagemap, ... */
static void proc_and_vm(void)
{
	static char secret[32] = "before fork";
	char got[32] = "", buf[256], path[64];
	struct iovec l = { got, sizeof(got) }, r = { secret, sizeof(secret) };
	int p[2], c[2];
	uint64_t ent = 0;
	pid_t pid;
	ssize_t n;

	if (pipe(p) || pipe(c))
		return check(0, "pipe: %s", err());
	pid = fork();
	if (pid == 0) {
		strcpy(secret, "the child's copy");
		write(p[1], "r", 1);
		read(c[0], buf, 1);
		_exit(0);
	}
	read(p[0], buf, 1);
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	check(n == sizeof(got) && !strcmp(got, "the child's copy"), "process_vm_readv %s",
	      n < 0 ? err() : got);

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	snprintf(got, sizeof(got), "%d ", pid);
	check(read_file(path, buf, sizeof(buf)) > 0 && strstr(buf, got),
	      "%s lists the child: \"%s\"", path, buf);
	write(c[1], "x", 1);
	waitpid(pid, NULL, 0);

	check(read_file("/proc/sys/kernel/ns_last_pid", buf, sizeof(buf)) > 0 && atoi(buf) > 0,
	      "/proc/sys/kernel/ns_last_pid: %d", atoi(buf));
	check(read_file("/proc/self/arch_status", buf, sizeof(buf)) >= 0 && access("/proc/self/arch_status", R_OK) == 0,
	      "/proc/self/arch_status readable");
	check(read_file("/proc/self/smaps", buf, sizeof(buf)) > 0, "/proc/self/smaps readable");
	n = -1;
	{
		int fd = open("/proc/self/pagemap", O_RDONLY);

		if (fd >= 0)
			n = pread(fd, &ent, 8, (uintptr_t)secret / PAGE * 8);
		if (fd >= 0)
			close(fd);
	}
	check(n == 8 && (ent >> 63), "/proc/self/pagemap: a touched page is present");
}

static int ns_differs(const char *name, const char *before)
{
	char path[64], now[64] = "";

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	return readlink(path, now, sizeof(now) - 1) > 0 && strcmp(now, before);
}

static void namespaces(void)
{
	static const char *names[] = { "mnt", "uts", "ipc", "net", "pid_for_children",
				       "time_for_children", "user" };
	char before[7][64];
	struct utsname u;
	pid_t pid;
	int st = -1;

	for (int i = 0; i < 7; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
		memset(before[i], 0, 64);
		if (readlink(path, before[i], 63) <= 0)
			check(0, "readlink %s: %s", path, err());
	}
	pid = fork();
	if (pid == 0) {
		int bad = 0, s;

		if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
			    CLONE_NEWTIME)) {
			printf("unshare: %s\n", err());
			_exit(1);
		}
		/* pid_for_children reads only once the new namespace has its pid 1 */
		for (int i = 0; i < 6; i++)
			if (i != 4 && !ns_differs(names[i], before[i]))
				printf("new %s namespace: same as before (%d)\n", names[i], ++bad);
		if (sethostname("kckpt-ns", 8) || uname(&u) || strcmp(u.nodename, "kckpt-ns"))
			printf("sethostname in the new UTS namespace (%d)\n", ++bad);
		if (shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600) < 0)
			printf("shmget in the new IPC namespace: %s (%d)\n", err(), ++bad);
		if (!if_nametoindex("lo"))
			printf("no lo in the new network namespace (%d)\n", ++bad);
		pid = fork();
		if (pid == 0)
			_exit(getpid() == 1 && ns_differs("pid", before[4]) ? 0 : 1);
		if (pid < 0 || waitpid(pid, &s, 0) != pid || !WIFEXITED(s) || WEXITSTATUS(s))
			printf("first child in the new PID namespace: not pid 1 or same namespace (%d)\n", ++bad);
		fflush(stdout);
		_exit(bad ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = -1;
	check(WIFEXITED(st) && !WEXITSTATUS(st),
	      "unshare(NEWNS|NEWUTS|NEWIPC|NEWNET|NEWPID|NEWTIME): all new, pid 1, hostname set");
	check(!uname(&u) && strcmp(u.nodename, "kckpt-ns"), "hostname outside unchanged (%s)", u.nodename);

	pid = fork();
	if (pid == 0) {
		int fd;

		if (unshare(CLONE_NEWUSER) || !ns_differs("user", before[6]) || getuid() != 65534)
			_exit(1);
		/* map our own uid: allowed for one line without setgroups */
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, "0 0 1", 5) != 5)
			_exit(2);
		close(fd);
		_exit(getuid() == 0 ? 0 : 3);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = -1;
	check(WIFEXITED(st) && !WEXITSTATUS(st),
	      "unshare(CLONE_NEWUSER): overflow uid, then uid_map \"0 0 1\" (status %#x)", st);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	lo_up();
	unix_socketpair();
	unix_diag();
	tcp_roundtrip(AF_INET, "127.0.0.1");
	tcp_roundtrip(AF_INET6, "::1");
	packet_socket();
	sysv_ipc();
	posix_mq();
	advise();
	memfd();
	notify();
	fd_events();
	aio();
	uring();
	misc_syscalls();
	proc_and_vm();
	namespaces();
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
