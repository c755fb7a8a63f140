// SPDX-License-Identifier: GPL-2.0
/*
 * cr_origin: every image says where it was made (NT_KCKPT_ORIGIN: the
 * kernel release, the vDSO's size and build ID, CPUID as user space sees
 * it), and restart refuses, in both modes and before anything changes, an
 * image whose vDSO is another build's or whose CPU had features this one
 * lacks.
 *
 * /bin/xstate (AVX live in its registers) is checkpointed by cr -p in both
 * modes; each image's note must hold exactly what this guest reports
 * (uname, its own vDSO's build ID, CPUID) and the two images must agree
 * (cr --compare). Both restart. Then copies of the kernel-mode image with
 * one field changed:
 *  - a CPUID.7.0:EBX bit this CPU does not have: ENOEXEC through
 *    binfmt_cr, with a log line naming the leaf and the bit, and exit 7
 *    from cr -r --userspace;
 *  - a build ID byte flipped: refused the same way ("vDSO differs");
 *  - a reserved word set: refused as a bad note;
 *  - a CPUID.7.0:EDX bit this CPU lacks (recorded, not checked): restarts;
 *  - the missing CPU bit again, but the note turned into an unknown one
 *    and its extras bit cleared, as an image made before the note existed:
 *    restarts, unchecked.
 */
#include <cpuid.h>
#include <elf.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include "refusal.h"

#define NT_KCKPT_ORIGIN	4
#define EXTRA_ORIGIN	0x8
#define O_SIZE		160
#define O_VDSO_SIZE	68
#define O_ID_LEN	72
#define O_ID		76
#define O_VENDOR	96
#define O_SIGNATURE	108
#define O_CPUID		112
#define O_RESERVED	144
#define W_7_EBX		2
#define W_7_EDX		4

struct origin {
	unsigned char b[O_SIZE];
};

static uint32_t o32(const struct origin *o, size_t off)
{
	uint32_t v;

	memcpy(&v, o->b + off, 4);
	return v;
}

static void put(struct origin *o, size_t off, uint32_t v)
{
	memcpy(o->b + off, &v, 4);
}

/* The size and GNU build ID of this process's vDSO, as the kernel maps it */
static void own_vdso(struct origin *o)
{
	const unsigned char *base = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf32_Ehdr *eh = (const void *)base;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[256];
	unsigned long lo, hi;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			put(o, O_VDSO_SIZE, hi - lo);
	if (f)
		fclose(f);
	for (int i = 0; base && i < eh->e_phnum; i++) {
		const Elf32_Phdr *ph = (const void *)(base + eh->e_phoff + i * eh->e_phentsize);
		const unsigned char *n = base + ph->p_offset, *end = n + ph->p_filesz;

		while (ph->p_type == PT_NOTE && n + 12 <= end) {
			const Elf32_Nhdr *nh = (const void *)n;
			const unsigned char *desc = n + 12 + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(n + 12, "GNU", 4) &&
			    nh->n_descsz <= 20) {
				put(o, O_ID_LEN, nh->n_descsz);
				memcpy(o->b + O_ID, desc, nh->n_descsz);
			}
			n = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

/* What this guest's kernel and CPU would record */
static void expected(struct origin *o)
{
	unsigned int a, b, c, d, max, ext;
	struct utsname u;

	memset(o, 0, sizeof(*o));
	uname(&u);
	snprintf((char *)o->b, 68, "%s", u.release);
	own_vdso(o);
	__cpuid(0, max, b, c, d);
	put(o, O_VENDOR, b);
	put(o, O_VENDOR + 4, d);
	put(o, O_VENDOR + 8, c);
	__cpuid(1, a, b, c, d);
	put(o, O_SIGNATURE, a);
	put(o, O_CPUID, d);
	put(o, O_CPUID + 4, c);
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		put(o, O_CPUID + 8, b);
		put(o, O_CPUID + 12, c);
		put(o, O_CPUID + 16, d);
	}
	if (max >= 0xd) {
		__cpuid_count(0xd, 1, a, b, c, d);
		put(o, O_CPUID + 28, a);
	}
	__cpuid(0x80000000, ext, b, c, d);
	if ((ext & 0xffff0000) == 0x80000000 && ext >= 0x80000001) {
		__cpuid(0x80000001, a, b, c, d);
		put(o, O_CPUID + 20, d);
		put(o, O_CPUID + 24, c);
	}
}

/* The image @path's origin note into @o: its offset, 0 if it has none */
static size_t origin_of(struct img *m, const char *path, struct origin *o)
{
	uint32_t size;
	int count;
	size_t off;

	if (img_load(m, path) || img_index(m))
		return 0;
	off = img_find_note(m, "KCKPT", NT_KCKPT_ORIGIN, &size, &count);
	if (!off || size != O_SIZE || count != 1)
		return 0;
	memcpy(o->b, m->buf + off, O_SIZE);
	return off;
}

/* The lowest bit of @v that is clear, 0 if none */
static uint32_t clear_bit(uint32_t v)
{
	return ~v & (v + 1);
}

/*
 * Write @src's kernel-mode image with @mutate applied to its origin note
 * (@ext: kckpt_attrs.extras with EXTRA_ORIGIN cleared and the note's type
 * made unknown) as @dst.
 */
static int mutant(const char *src, const char *dst, void (*mutate)(struct origin *), int unknown)
{
	struct origin o;
	struct img m;
	size_t off = origin_of(&m, src, &o), st;
	uint32_t size;
	int count;

	if (!off)
		return -1;
	mutate(&o);
	memcpy(m.buf + off, o.b, O_SIZE);
	if (unknown) {
		st = img_find_note(&m, "KCKPT", 1, &size, &count);
		img_put(&m, st + ST_EXTRAS, img_get(&m, st + ST_EXTRAS) & ~EXTRA_ORIGIN);
		img_put(&m, off - 12, 99);	/* n_type: before the 8-byte name */
	}
	unlink(dst);
	return img_write(&m, dst);
}

static uint32_t missing_bit;

static void lack_cpu(struct origin *o)
{
	put(o, O_CPUID + 4 * W_7_EBX, o32(o, O_CPUID + 4 * W_7_EBX) | missing_bit);
}

static void lack_unchecked(struct origin *o)
{
	uint32_t w = o32(o, O_CPUID + 4 * W_7_EDX);

	put(o, O_CPUID + 4 * W_7_EDX, w | clear_bit(w));
}

static void other_vdso(struct origin *o)
{
	o->b[O_ID] ^= 0x5a;
}

static void reserved(struct origin *o)
{
	put(o, O_RESERVED + 8, 1);
}

int main(void)
{
	const char *const imgs[2] = { "o-k.kckpt", "o-u.kckpt" };
	struct origin want, got;
	char bits[32];
	struct img m;
	struct child c;

	unlink(imgs[0]);
	unlink(imgs[1]);
	expected(&want);
	printf("# release %s, vDSO %u bytes, build ID %u bytes, CPUID.7.0:EBX %#x\n", (char *)want.b,
	       o32(&want, O_VDSO_SIZE), o32(&want, O_ID_LEN), o32(&want, O_CPUID + 4 * W_7_EBX));
	check(o32(&want, O_ID_LEN) == 20, "this guest's vDSO has a 20-byte build ID");

	start_ready(&c, (char *[]){ "/bin/xstate", NULL });
	checkpoint_both_ways(c.pid, imgs);
	reap(&c);
	for (int u = 0; u < 2; u++) {
		size_t off = origin_of(&m, imgs[u], &got);
		size_t st = img_find_note(&m, "KCKPT", 1, &(uint32_t){ 0 }, &(int){ 0 });

		check(off && (img_get(&m, st + ST_EXTRAS) & EXTRA_ORIGIN), "%s: one 160-byte origin note, extras bit 8",
		      imgs[u]);
		for (size_t i = 0; off && i < O_SIZE; i += 4)
			if (o32(&got, i) != o32(&want, i))
				printf("# %s: origin word at %zu is %#x, this guest says %#x\n", imgs[u], i,
				       o32(&got, i), o32(&want, i));
		check(off && !memcmp(got.b, want.b, O_SIZE), "%s: the note is this kernel's and CPU's", imgs[u]);
	}
	restarts_both(imgs[0], "kernel-mode image");
	restarts_both(imgs[1], "userspace image");

	missing_bit = clear_bit(o32(&want, O_CPUID + 4 * W_7_EBX));
	check(missing_bit, "this CPU lacks a CPUID.7.0:EBX feature");
	snprintf(bits, sizeof(bits), "bits %#x", missing_bit);
	check(!mutant(imgs[0], "cpu.kckpt", lack_cpu, 0), "image with a missing CPU feature written");
	refused_restart("cpu.kckpt", "CPU lacks features", bits, "a CPU feature this CPU lacks");
	check(!mutant(imgs[0], "vdso.kckpt", other_vdso, 0), "image with another vDSO build ID written");
	refused_restart("vdso.kckpt", "vDSO differs", "this kernel", "another vDSO");
	check(!mutant(imgs[0], "resv.kckpt", reserved, 0), "image with a reserved word set written");
	refused_restart("resv.kckpt", "bad NT_KCKPT_ORIGIN", "", "reserved word set");

	check(!mutant(imgs[0], "edx.kckpt", lack_unchecked, 0), "image with an unchecked 7.0:EDX bit written");
	restarts_both("edx.kckpt", "a CPUID.7.0:EDX bit this CPU lacks (not checked)");
	check(!mutant(imgs[0], "old.kckpt", lack_cpu, 1), "image without an origin note written");
	restarts_both("old.kckpt", "no origin note (an older image), its CPU bit not checked");
	return failures ? 1 : 0;
}
