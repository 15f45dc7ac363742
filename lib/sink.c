/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE	/* pipe2(), in POSIX only since 2024 */
/*
 * sink.c - where the collector's report lines go: standard output, or the
 * standard input of a command whose exit status 0 acknowledges them
 * (dmu-get follow -x).  The collector decides what an acknowledgement
 * moves on; this file runs the command and says how it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmu.h"

extern char **environ;

/* Without a pidfd (Linux before 5.3), how often the command is looked at. */
#define REAP_STEP_MS	10

/* see dmu.h */
void
dmu_sink_init(struct dmu_sink *s, const char *command, const char *device,
    long timeout_ms)
{
	memset(s, 0, sizeof(*s));
	s->command = command;
	s->device = device;
	s->timeout_ms = timeout_ms;
	s->fd = STDOUT_FILENO;
	s->in = s->pidfd = -1;
	s->pid = -1;
}

/*
 * The command's environment: ours without the API key (DMU_API_KEY,
 * DMU_API_KEY_FILE) and with DMU_DEVICE, newly allocated.
 */
static char **
command_env(const char *device)
{
	static const char *const drop[] = { "DMU_API_KEY=",
	    "DMU_API_KEY_FILE=", "DMU_DEVICE=" };
	char **env;
	size_t n = 0, i, k;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = dmu_xreallocarray(NULL, n + 2, sizeof(*env));
	for (i = k = 0; i < n; i++) {
		size_t d;

		for (d = 0; d < sizeof(drop) / sizeof(drop[0]); d++)
			if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0)
				break;
		if (d == sizeof(drop) / sizeof(drop[0]))
			env[k++] = environ[i];
	}
	env[k++] = dmu_xasprintf("DMU_DEVICE=%s", device);
	env[k] = NULL;
	return env;
}

/* Closes every descriptor from lo up: the command inherits none of ours. */
static void
close_from(int lo)
{
	long max, fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lo; fd < max; fd++)
		close((int)fd);
}

/*
 * In the child: its own process group (so that a time-out can end all of
 * it), the pipe as standard input, nothing else of ours open, the default
 * signal dispositions and mask, then /bin/sh -c COMMAND.
 */
static void
exec_command(const struct dmu_sink *s, int in)
{
	char *argv[] = { "sh", "-c", (char *)(uintptr_t)s->command, NULL };
	sigset_t none;

	setpgid(0, 0);
	if (in == STDIN_FILENO)
		fcntl(in, F_SETFD, 0);
	else if (dup2(in, STDIN_FILENO) < 0)
		_exit(126);
	close_from(3);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/bin/sh", argv, s->env);
	_exit(127);
}

/* Marks the batch as failed, with why; later reasons do not replace it. */
static void
failed(struct dmu_sink *s, const char *fmt, const char *arg)
{
	if (!s->failed)
		dmu_seterr(s->err, fmt, arg);
	s->failed = 1;
}

/* Starts the command with a pipe to its standard input. */
static void
spawn(struct dmu_sink *s)
{
	int p[2];

	if (s->env == NULL) {
		s->env = command_env(s->device);
		/* An ignored SIGCHLD, inherited, would leave nothing to wait. */
		signal(SIGCHLD, SIG_DFL);
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		failed(s, "cannot make a pipe: %s", strerror(errno));
		return;
	}
	if ((s->pid = fork()) < 0) {
		failed(s, "cannot start it: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (s->pid == 0)
		exec_command(s, p[0]);
	setpgid(s->pid, s->pid);	/* also here: no race with a kill */
	close(p[0]);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	s->in = p[1];
	s->end_ms = dmu_now_ms() + s->timeout_ms;
#ifdef SYS_pidfd_open
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
#endif
}

/*
 * The end of the command's time: its time-out, or once a stop signal is
 * seen, DMU_SINK_GRACE_MS after it, whichever comes first.
 */
static int64_t
limit(struct dmu_sink *s)
{
	if (dmu_stop && s->stop_ms == 0)
		s->stop_ms = dmu_now_ms() + DMU_SINK_GRACE_MS;
	return s->stop_ms != 0 && s->stop_ms < s->end_ms ? s->stop_ms :
	    s->end_ms;
}

/* Reaps the command when it has ended; returns 1 then, else 0. */
static int
reaped(struct dmu_sink *s, int block)
{
	pid_t r;

	if (s->pid < 0)
		return 1;
	do
		r = waitpid(s->pid, &s->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0)
		failed(s, "cannot wait for it: %s", strerror(errno));
	s->pid = -1;
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
	return 1;
}

/*
 * Waits until fd (or -1: none) takes output or the command ends, within
 * limit().  Returns 1 when fd is ready, 2 when the command has ended
 * (reaped), 0 at the limit.
 */
static int
wait_command(struct dmu_sink *s, int fd)
{
	struct pollfd p[2];
	int64_t left;
	unsigned n;
	int r;

	for (;;) {
		if ((left = limit(s) - dmu_now_ms()) <= 0)
			return 0;
		n = 0;
		if (fd >= 0)
			p[n++] = (struct pollfd){ fd, POLLOUT, 0 };
		if (s->pidfd >= 0)
			p[n++] = (struct pollfd){ s->pidfd, POLLIN, 0 };
		else if (left > REAP_STEP_MS)
			left = REAP_STEP_MS;
		/* After a stop signal, the grace is waited out in poll(). */
		r = dmu_stop ? poll(p, n, (int)left) :
		    dmu_poll(p, n, (int)left);
		if (r < 0 && errno != EINTR)
			return 0;
		if (r > 0 && fd >= 0 && p[0].revents != 0)
			return 1;
		if ((s->pidfd < 0 || (r > 0 && p[n - 1].revents != 0)) &&
		    reaped(s, 0))
			return 2;
	}
}

/* Hands one line to the command; a failure only marks the batch. */
static void
put_command(struct dmu_sink *s, const char *line, size_t len)
{
	struct iovec iov[2];
	ssize_t k;
	int i = 0;

	if (s->failed || s->eof)
		return;
	if (s->pid < 0 && s->in < 0) {
		spawn(s);
		if (s->failed)
			return;
	}
	iov[0] = (struct iovec){ (void *)(uintptr_t)line, len };
	iov[1] = (struct iovec){ (void *)(uintptr_t)"\n", 1 };
	while (i < 2) {
		if ((k = writev(s->in, iov + i, 2 - i)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {
				s->eof = 1;	/* it stopped reading */
				return;
			}
			if (errno != EAGAIN) {
				failed(s, "cannot write to it: %s",
				    strerror(errno));
				return;
			}
			switch (wait_command(s, s->in)) {
			case 0:
				s->expired = 1;
				s->failed = 1;
				return;
			case 2:
				s->eof = 1;	/* it ended without reading */
				return;
			}
			continue;
		}
		for (; i < 2 && (size_t)k >= iov[i].iov_len; i++)
			k -= (ssize_t)iov[i].iov_len;
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= (size_t)k;
		}
	}
}

/* see dmu.h */
int
dmu_sink_put(struct dmu_sink *s, const struct dmu_report *r)
{
	if (s->command == NULL) {
		if (dmu_write_line(s->fd, r->line, r->len) != 0)
			return errno == EINTR && dmu_stop ? -1 : 1;
		s->nlines++;
		return 0;
	}
	put_command(s, r->line, r->len);
	s->nlines++;
	return 0;
}

/* Ends the command's process group at once. */
static void
kill_command(struct dmu_sink *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		reaped(s, 1);
	}
}

/* Says how the command ended into s->err; returns 1 for exit 0. */
static int
verdict(struct dmu_sink *s)
{
	char why[64];

	if (WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0)
		return 1;
	if (WIFEXITED(s->status))
		snprintf(why, sizeof(why), "exit status %d",
		    WEXITSTATUS(s->status));
	else if (WIFSIGNALED(s->status))
		snprintf(why, sizeof(why), "killed by signal %d (%s)",
		    WTERMSIG(s->status), strsignal(WTERMSIG(s->status)));
	else
		snprintf(why, sizeof(why), "wait status %#x", s->status);
	failed(s, "%s", why);
	return 0;
}

/* Waits for the command to end, within limit(); kills it at the limit. */
static int
finish_command(struct dmu_sink *s)
{
	char why[96];

	if (s->in >= 0)
		close(s->in);	/* end of input: the batch is complete */
	s->in = -1;
	if (s->pid > 0 && !s->expired)
		wait_command(s, -1);
	if (s->pid < 0)		/* it ended: its status decides */
		return s->failed ? 0 : verdict(s);
	kill_command(s);
	if (s->stop_ms != 0 && dmu_now_ms() >= s->stop_ms)
		snprintf(why, sizeof(why), "not finished %d ms after the stop "
		    "signal; killed", DMU_SINK_GRACE_MS);
	else
		snprintf(why, sizeof(why), "still running after %.3g s (the "
		    "time-out); killed", (double)s->timeout_ms / 1000);
	s->failed = 0;
	failed(s, "%s", why);
	return 0;
}

/* see dmu.h */
int
dmu_sink_ack(struct dmu_sink *s)
{
	struct timespec now;
	long long n = s->nlines;
	int ok;

	s->nlines = 0;
	if (s->command == NULL) {
		if (s->sync && fsync(s->fd) != 0 && errno != EINVAL &&
		    errno != EROFS) {
			dmu_seterr(s->err, "stdout: %s", strerror(errno));
			return DMU_EFAIL;
		}
		return DMU_OK;
	}
	if (n == 0)
		return DMU_OK;
	ok = finish_command(s);
	s->failed = s->eof = s->expired = 0;
	s->stop_ms = 0;
	if (!ok) {
		s->failures++;
		s->waiting = n;
		return DMU_SINK_NACK;
	}
	s->waiting = 0;
	s->acked += n;
	clock_gettime(CLOCK_REALTIME, &now);
	s->last_ok = (double)now.tv_sec;	/* whole: dmu_metric() exact */
	return DMU_OK;
}

/* see dmu.h */
void
dmu_sink_free(struct dmu_sink *s)
{
	if (s->in >= 0)
		close(s->in);
	s->in = -1;
	kill_command(s);
	if (s->env != NULL) {
		/* The last entry is ours; the others are environ's. */
		size_t n = 0;

		while (s->env[n] != NULL)
			n++;
		free(s->env[n - 1]);
		free(s->env);
		s->env = NULL;
	}
}
