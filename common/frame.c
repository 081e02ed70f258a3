/* frame.c - newline framing; see frame.h. */
#include "config.h"
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME_READ_CHUNK 16384

void frame_init(frame_reader_t *fr, size_t max_line)
{
	memset(fr, 0, sizeof *fr);
	fr->max_line = max_line;
}

void frame_free(frame_reader_t *fr)
{
	free(fr->buf);
	fr->buf = NULL;
	fr->cap = fr->start = fr->len = fr->scanned = 0;
}

/* Make room for n more bytes at the end, compacting or growing. */
static int frame_reserve(frame_reader_t *fr, size_t n)
{
	if (fr->start > 0 && fr->len + n > fr->cap) {
		memmove(fr->buf, fr->buf + fr->start, fr->len - fr->start);
		fr->len -= fr->start;
		fr->start = 0;
	}
	if (fr->len + n + 1 > fr->cap) {
		size_t want = fr->cap ? fr->cap : 1024;
		while (want < fr->len + n + 1)
			want *= 2;
		char *nb = realloc(fr->buf, want);
		if (!nb)
			return -1;
		fr->buf = nb;
		fr->cap = want;
	}
	return 0;
}

int frame_feed(frame_reader_t *fr, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (frame_reserve(fr, n) < 0)
		return -1;
	memcpy(fr->buf + fr->len, data, n);
	fr->len += n;
	return 0;
}

static void frame_drained(frame_reader_t *fr)
{
	if (fr->start == fr->len) {
		fr->start = fr->len = fr->scanned = 0;
		/* Released once drained: an idle connection holds no input
		 * buffer, and one huge line does not pin memory. */
		free(fr->buf);
		fr->buf = NULL;
		fr->cap = 0;
	}
}

int frame_next(frame_reader_t *fr, char **line, size_t *len)
{
	if (!fr->buf || fr->start == fr->len) {
		frame_drained(fr);
		return FRAME_NEED;
	}
	char *begin = fr->buf + fr->start;
	size_t avail = fr->len - fr->start;
	char *nl = memchr(begin + fr->scanned, '\n', avail - fr->scanned);
	if (!nl) {
		fr->scanned = avail;
		if (avail > fr->max_line + 1) /* +1: a '\r' before the '\n' */
			return FRAME_TOO_LONG;
		return FRAME_NEED;
	}
	size_t l = (size_t)(nl - begin);
	fr->start += l + 1;
	fr->scanned = 0;
	if (l > 0 && begin[l - 1] == '\r')
		l--;
	if (l > fr->max_line)
		return FRAME_TOO_LONG;
	begin[l] = '\0';
	*line = begin;
	*len = l;
	return FRAME_LINE;
}

size_t frame_pending(const frame_reader_t *fr)
{
	return fr->len - fr->start;
}

size_t frame_take(frame_reader_t *fr, void *dst, size_t n)
{
	size_t avail = fr->len - fr->start;
	if (n > avail)
		n = avail;
	if (n) {
		memcpy(dst, fr->buf + fr->start, n);
		fr->start += n;
		fr->scanned = 0;
	}
	if (fr->start == fr->len)
		frame_drained(fr);
	return n;
}

static ssize_t frame_read_plain(void *ctx, void *buf, size_t n)
{
	ssize_t r;
	do
		r = read(*(int *)ctx, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

ssize_t frame_read_fd(frame_reader_t *fr, int fd)
{
	return frame_read_with(fr, frame_read_plain, &fd);
}

ssize_t frame_read_with(frame_reader_t *fr, frame_read_fn rd, void *ctx)
{
	ssize_t n;
	if (fr->buf && fr->start == fr->len)
		frame_drained(fr);
	if (!fr->buf) {
		/* Nothing buffered: read on the stack, so that a read that finds
		 * nothing (how a server's turn on a connection ends) leaves no
		 * buffer behind, and what did arrive takes a buffer its size. */
		char tmp[FRAME_READ_CHUNK];
		n = rd(ctx, tmp, sizeof tmp);
		if (n > 0 && frame_feed(fr, tmp, (size_t)n) < 0) {
			errno = ENOMEM;
			return -1;
		}
		return n;
	}
	if (frame_reserve(fr, FRAME_READ_CHUNK) < 0) {
		errno = ENOMEM;
		return -1;
	}
	n = rd(ctx, fr->buf + fr->len, fr->cap - fr->len - 1);
	if (n > 0)
		fr->len += (size_t)n;
	return n;
}
