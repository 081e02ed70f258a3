/* store_faults.h - fault injection for the store, writer and state tests,
 * two ways:
 *  - SQLite's unix VFS lets a test replace the system calls it makes
 *    (xSetSystemCall), so the database's writes can fail the way they do on
 *    a full disk (ENOSPC) or a failing one (EIO), even when running as root
 *    (faults_install, faults_set);
 *  - reads cannot be made to fail that way (SQLite answers them from its
 *    page cache), so a connection's operations can also be made to fail at
 *    the store interface: faults_ops() gives it a copy of its backend's
 *    table in which the chosen operations answer STORE_ERR (as a backend
 *    whose database failed) and the others pass on.
 * The tests of the layers above the store call break_the_disk() and
 * mend_the_disk(). */
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

/* ---- failing operations at the store interface ------------------------- */

#include "log.h"
#include "store.h"

typedef int (*faults_user_cb)(void *ctx, const store_user_t *u);
typedef int (*faults_group_cb)(void *ctx, const store_group_t *g);
typedef int (*faults_member_cb)(void *ctx, int64_t group_id, int64_t user_id);
typedef int (*faults_msg_cb)(void *ctx, const store_msg_t *m);
typedef int (*faults_file_cb)(void *ctx, const store_file_t *f);
typedef int (*faults_meta_cb)(void *ctx, const store_chat_meta_t *m);

/* Every operation of struct store_backend: name, parameters, arguments. */
#define FAULTS_OPS(X) \
	X(user_create, (store_t *st, const char *username, const char *pwhash, int64_t *id), (st, username, pwhash, id)) \
	X(user_by_name, (store_t *st, const char *username, store_user_t *out), (st, username, out)) \
	X(user_name_taken, (store_t *st, const char *username), (st, username)) \
	X(user_by_id, (store_t *st, int64_t id, store_user_t *out), (st, id, out)) \
	X(user_set_pwhash, (store_t *st, int64_t id, const char *pwhash), (st, id, pwhash)) \
	X(user_set_banned, (store_t *st, int64_t id, int banned), (st, id, banned)) \
	X(user_rename, (store_t *st, int64_t id, const char *username), (st, id, username)) \
	X(user_delete, (store_t *st, int64_t id), (st, id)) \
	X(user_count, (store_t *st, int64_t *n), (st, n)) \
	X(users_foreach, (store_t *st, faults_user_cb cb, void *ctx), (st, cb, ctx)) \
	X(group_create, (store_t *st, const char *name, int is_private, int64_t *id), (st, name, is_private, id)) \
	X(group_by_name, (store_t *st, const char *name, store_group_t *out), (st, name, out)) \
	X(group_by_id, (store_t *st, int64_t id, store_group_t *out), (st, id, out)) \
	X(group_set_banned, (store_t *st, int64_t id, int banned), (st, id, banned)) \
	X(group_rename, (store_t *st, int64_t id, const char *name), (st, id, name)) \
	X(group_delete, (store_t *st, int64_t id), (st, id)) \
	X(groups_foreach, (store_t *st, faults_group_cb cb, void *ctx), (st, cb, ctx)) \
	X(member_add, (store_t *st, int64_t group_id, int64_t user_id), (st, group_id, user_id)) \
	X(member_remove, (store_t *st, int64_t group_id, int64_t user_id), (st, group_id, user_id)) \
	X(members_foreach, (store_t *st, faults_member_cb cb, void *ctx), (st, cb, ctx)) \
	X(messages_append, (store_t *st, const store_msg_t *msgs, size_t n, int dedup_window), (st, msgs, n, dedup_window)) \
	X(history, (store_t *st, int64_t group_id, int64_t after_id, int64_t before_id, int limit, faults_msg_cb cb, void *ctx), (st, group_id, after_id, before_id, limit, cb, ctx)) \
	X(last_message_id, (store_t *st, int64_t *id), (st, id)) \
	X(reserve_message_ids, (store_t *st, int64_t upto), (st, upto)) \
	X(message_count, (store_t *st, int64_t group_id, int64_t *n), (st, group_id, n)) \
	X(dedup_get, (store_t *st, int64_t user_id, const char *client_msg_id, int64_t *message_id, int64_t *group_id), (st, user_id, client_msg_id, message_id, group_id)) \
	X(file_add, (store_t *st, const store_file_t *f, int64_t *id), (st, f, id)) \
	X(file_get, (store_t *st, int64_t id, store_file_t *out), (st, id, out)) \
	X(file_delete, (store_t *st, int64_t id), (st, id)) \
	X(files_foreach, (store_t *st, int64_t group_id, faults_file_cb cb, void *ctx), (st, group_id, cb, ctx)) \
	X(chat_create, (store_t *st, const char *name, const store_chat_meta_t *meta, const int64_t *members, size_t n, int64_t *id), (st, name, meta, members, n, id)) \
	X(chat_meta_foreach, (store_t *st, faults_meta_cb cb, void *ctx), (st, cb, ctx))

#define FAULTS_ENUM(name, params, args) FAULT_##name,
enum faults_op { FAULTS_OPS(FAULTS_ENUM) FAULT_COUNT };
#define FAULT(name) (1ull << FAULT_##name)

static unsigned long long faults_failing;        /* FAULT() bits */
static store_t *faults_wrapped;                  /* the connection faults_ops() wrapped */
static const struct store_backend *faults_real;  /* its own backend */
static struct store_backend faults_backend;

#define FAULTS_FORWARD(name, params, args) \
	static inline int faults_##name params \
	{ \
		if (faults_failing & FAULT(name)) \
			return STORE_ERR; \
		return faults_real->name args; \
	}
FAULTS_OPS(FAULTS_FORWARD)

/* From now on the operations of st in mask (FAULT(user_by_id) | ...) fail
 * with STORE_ERR; mask 0: none. st's own backend is put back by
 * faults_ops_end(st) (before store_close). */
static inline void faults_ops(store_t *st, unsigned long long mask)
{
	if (st->be != &faults_backend) {
		faults_real = st->be;
		faults_backend = *st->be;
#define FAULTS_SET(name, params, args) faults_backend.name = faults_##name;
		FAULTS_OPS(FAULTS_SET)
#undef FAULTS_SET
		st->be = &faults_backend;
		faults_wrapped = st;
	}
	faults_failing = mask;
}

static inline void faults_ops_end(store_t *st)
{
	if (st && st->be == &faults_backend) {
		st->be = faults_real;
		faults_wrapped = NULL;
	}
	faults_failing = 0;
}

/* ---- what the state and handler tests call ----------------------------- */

/* Every database write fails from now on, as on a full disk; the test is
 * skipped where the VFS cannot be hooked. */
static inline void break_the_disk(void)
{
	if (faults_install() != 0)
		skip();
	log_set_level(-1); /* the store logs each refused write */
	faults_set(ENOSPC);
}

/* Writes work again, and so does every operation faults_ops() made fail. */
static inline void mend_the_disk(void)
{
	faults_set(0);
	faults_ops_end(faults_wrapped);
	log_set_level(LOG_LVL_ERROR);
}

#endif
