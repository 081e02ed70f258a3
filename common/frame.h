/* frame.h - newline-delimited framing with a line-length limit.
 *
 * The buffer is allocated lazily and released whenever it is drained, so an
 * idle connection holds no input memory. Not thread-safe: one reader per
 * connection. */
#ifndef CHATROOM_FRAME_H
#define CHATROOM_FRAME_H

#include <stddef.h>
#include <sys/types.h>

enum frame_status {
	FRAME_LINE = 0,     /* line and len hold a complete line (no '\n', no trailing '\r') */
	FRAME_NEED = 1,     /* no complete line buffered: feed more */
	FRAME_TOO_LONG = 2, /* a line exceeded max_line: the stream cannot be resynchronised */
};

typedef struct frame_reader {
	char *buf;       /* NULL while empty */
	size_t cap;      /* allocated size of buf */
	size_t start;    /* first unconsumed byte */
	size_t len;      /* end of buffered bytes */
	size_t scanned;  /* bytes after start already searched for '\n' */
	size_t max_line; /* longest line accepted, newline excluded */
} frame_reader_t;

void frame_init(frame_reader_t *fr, size_t max_line);
void frame_free(frame_reader_t *fr);

/* Append n bytes. Returns 0, or -1 when out of memory. */
int frame_feed(frame_reader_t *fr, const void *data, size_t n);

/* Next complete line; the pointer (NUL-terminated in place) stays valid until
 * the next call to frame_feed/frame_next/frame_take. */
int frame_next(frame_reader_t *fr, char **line, size_t *len);

/* Bytes buffered but not yet returned as lines. */
size_t frame_pending(const frame_reader_t *fr);

/* Move up to n already-buffered bytes to dst (raw data that follows a line,
 * such as a file upload). Returns the count moved. */
size_t frame_take(frame_reader_t *fr, void *dst, size_t n);

/* Read once from fd (non-blocking or after poll) into the reader. A read
 * into an empty reader that finds nothing leaves it without a buffer.
 * Returns bytes read, 0 at EOF, -1 on error (errno set; EAGAIN possible). */
ssize_t frame_read_fd(frame_reader_t *fr, int fd);

/* The same through a read function of the caller's (a TLS connection):
 * rd(ctx, buf, n) returns like read(2). */
typedef ssize_t (*frame_read_fn)(void *ctx, void *buf, size_t n);
ssize_t frame_read_with(frame_reader_t *fr, frame_read_fn rd, void *ctx);

#endif
