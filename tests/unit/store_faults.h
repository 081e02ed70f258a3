/* store_faults.h - fault injection for the store and writer tests: SQLite's
 * unix VFS lets a test replace the system calls it makes
 * (xSetSystemCall), so the database's writes can fail the way they do on a
 * full disk (ENOSPC) or a failing one (EIO), even when running as root. */
#ifndef CHATROOM_TEST_STORE_FAULTS_H
#define CHATROOM_TEST_STORE_FAULTS_H

#include <errno.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <sqlite3.h>

static atomic_int faults_errno; /* 0: writes work; else they fail with it */
static sqlite3_syscall_ptr faults_real_pwrite;

typedef ssize_t (*faults_pwrite_fn)(int, const void *, size_t, off_t);

static ssize_t faults_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int e = atomic_load(&faults_errno);
	if (e) {
		errno = e;
		return -1;
	}
	return ((faults_pwrite_fn)faults_real_pwrite)(fd, buf, n, off);
}

/* Call once before opening databases. 0, or -1 if the VFS has no hook. */
static int faults_install(void)
{
	sqlite3_vfs *vfs;

	if (faults_real_pwrite)
		return 0;
	sqlite3_initialize();
	vfs = sqlite3_vfs_find(NULL);
	if (!vfs || vfs->iVersion < 3 || !vfs->xGetSystemCall)
		return -1;
	faults_real_pwrite = vfs->xGetSystemCall(vfs, "pwrite64");
	if (!faults_real_pwrite)
		return -1;
	return vfs->xSetSystemCall(vfs, "pwrite64", (sqlite3_syscall_ptr)faults_pwrite) ==
	       SQLITE_OK ? 0 : -1;
}

/* From now on every database write fails with err (ENOSPC, EIO), or works
 * again (err 0). */
static void faults_set(int err)
{
	atomic_store(&faults_errno, err);
}

#endif
