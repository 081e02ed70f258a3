/* tunables.h - every tunable limit and interval of chatroom, with its default.
 * Each one has a command-line option and a configuration-file option of the
 * same name (see chatroomd(8), chatroomd.conf(5)); these are only defaults. */
#ifndef CHATROOM_TUNABLES_H
#define CHATROOM_TUNABLES_H

#define CR_DEFAULT_PORT            8888
#define CR_DEFAULT_LISTEN          "0.0.0.0"
#define CR_PROTOCOL_VERSION        2

/* Framing */
#define CR_DEFAULT_MAX_LINE        65536         /* bytes, newline excluded */

/* Worker pool: a worker serves a connection while it has work; idle
 * connections are parked in the waiter and cost no thread. Enough workers
 * that a few slow password hashes or a slow disk do not stall everyone. */
#define CR_WORKERS_PER_CPU         4
#define CR_WORKERS_MIN             8
#define CR_DEFAULT_QUEUE           1024          /* new connections waiting for a worker */
/* MaxConnections defaults to the descriptor limit (one per connection)
 * less this many for the database, logs, listening sockets and files. */
#define CR_FD_RESERVE              100
#define CR_DEFAULT_STACK_KB        256           /* worker thread stack size, KiB */

/* Per-client unsent output; past it the client is closed (slow consumer). */
#define CR_DEFAULT_MAX_OUTPUT      1048576       /* bytes */

/* Watchdog */
#define CR_DEFAULT_HEARTBEAT_INTERVAL 30         /* seconds, told to protocol-2 clients */
#define CR_DEFAULT_HEARTBEAT_TIMEOUT  90         /* seconds of silence before a close */
#define CR_DEFAULT_LOGIN_TIMEOUT      60         /* seconds to log in after connecting */
#define CR_DEFAULT_TRANSFER_TIMEOUT   30         /* seconds a file transfer may stall */

/* Writer thread (group commit): a batch is what queued up while the last
 * commit was in flight, at most BATCH_SIZE messages; BATCH_MS > 0 makes
 * the writer also wait up to that long for a batch to fill. Messages are
 * delivered after their commit, so BATCH_MS adds to every delivery. */
#define CR_DEFAULT_BATCH_SIZE      256
#define CR_DEFAULT_BATCH_MS        0
#define CR_DEFAULT_WRITER_QUEUE    100000        /* messages accepted but not yet stored */
/* Synchronous = normal: commits do not sync; a checkpoint thread syncs
 * them this often (ms), which bounds what a power loss can take. */
#define CR_DEFAULT_CHECKPOINT_INTERVAL 100

/* Messages (as the reference server) */
#define CR_MAX_CONTENT_CHARS       1000          /* longer content is cut and "..." added */
#define CR_HISTORY_ON_ENTER        50
#define CR_DEFAULT_HISTORY_MAX     500           /* history_request limit maximum */
#define CR_CLIENT_MSG_ID_MAX       64            /* bytes */
#define CR_DEFAULT_DEDUP_WINDOW    1000          /* client_msg_ids remembered per user */

/* Accounts */
#define CR_USERNAME_MIN            3
#define CR_USERNAME_MAX            20
#define CR_PASSWORD_MIN            6
#define CR_PASSWORD_MAX            50
#define CR_CHATNAME_MIN            2
#define CR_CHATNAME_MAX            30
#define CR_DEFAULT_HASH_OPSLIMIT   2             /* crypto_pwhash (Argon2id) passes */
#define CR_DEFAULT_HASH_MEMLIMIT_KB 19456        /* crypto_pwhash memory, KiB */
#define CR_DEFAULT_HASH_CONCURRENCY 2            /* hashes computed at once */
#define CR_DEFAULT_LOGIN_FAIL_MAX  5             /* failed logins for one account from one address ... */
#define CR_DEFAULT_LOGIN_FAIL_MAX_ADDRESS 20     /* ... or from one address ... */
#define CR_DEFAULT_LOGIN_FAIL_WINDOW 60          /* ... per this many seconds: then refused */
#define CR_DEFAULT_LOGIN_FAIL_MAX_ACCOUNT 20     /* failed logins for one account, any address ... */
#define CR_DEFAULT_LOGIN_FAIL_DELAY 2            /* ... then each login to it waits this many seconds */
#define CR_DEFAULT_LOGIN_THROTTLE_ENTRIES 65536  /* counts kept per throttle table (24 bytes each) */
#define CR_DEFAULT_REGISTER_MAX_ADDRESS 50       /* new accounts from one address ... */
#define CR_DEFAULT_REGISTER_WINDOW 600           /* ... per this many seconds */

/* Files: an upload must leave this much free space on the data folder's
 * file system (which usually holds the database too). */
#define CR_DEFAULT_MIN_FREE_SPACE  1073741824    /* bytes */

/* Chats one user may belong to (created or joined, public included): each
 * group costs memory for ever (its recent-message cache), and nobody can
 * leave a chat, so this bounds what one account can make the server keep. */
#define CR_DEFAULT_MAX_CHATS_PER_USER 500

/* Presence: groups with more members than this send no status updates. */
#define CR_DEFAULT_PRESENCE_MAX_GROUP 1000

/* Cluster mode: a message held back behind a missing one waits this long
 * (ms) for it on the bus before it is fetched from PostgreSQL; every group,
 * membership and ban is compared with PostgreSQL this often (ms), which
 * also bounds how late a lost notification is made good; a node's key in
 * Redis lives this long (seconds) without a refresh. */
#define CR_DEFAULT_GAP_WAIT        200
#define CR_DEFAULT_SWEEP_INTERVAL  1000
#define CR_DEFAULT_NODE_TIMEOUT    10

/* Flood control */
#define CR_DEFAULT_RATE            50            /* messages per second, per connection */
#define CR_DEFAULT_BURST           200

/* Legacy clients: the language of the texts they get ("zh" is the
 * reference server's), and the least time between a legacy request and its
 * reply, in ms: the reference client installs its reply handler only
 * after sending, so an answer faster than that is lost. */
#define CR_DEFAULT_LANGUAGE        "zh"
#define CR_DEFAULT_LEGACY_REPLY_DELAY_MS 2

#define CR_PUBLIC_GROUP            "public"
#define CR_ADMIN_USER              "Admin"

#endif
