/*
 * restore-init: PID 1 of a container that receives a migrated process tree.
 *
 * Docker starts it as the container's entrypoint: `restore-init -- ORIGINAL COMMAND...`.
 *
 * - If the marker file /.livemig-restore-pending exists (the destination agent put it into the
 *   container's filesystem before starting it), this start is the one a migration restores into:
 *   block all signals and wait (the agent removes the marker: we may run as a user who cannot). The agent runs `criu restore` from the host
 *   inside this PID namespace; when criu exits, the restored tree's root task is re-parented to
 *   us. The agent then sends SIGUSR1: we adopt our only child as "the application", forward
 *   every signal to it, reap zombies, and exit with its status (128+signal when it was killed),
 *   so `docker stop` and `docker wait` behave as they did for the original container.
 * - Otherwise (`docker restart`, a restart policy firing later) the container starts fresh, as
 *   Docker would have started the original: exec the original command.
 *
 * Static, no allocation after start, no dependencies: it is bind-mounted into images of any libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER "/.livemig-restore-pending"
#define CHILDREN "/proc/self/task/%d/children"

static void die(const char *what) {
	fprintf(stderr, "restore-init: %s: %s\n", what, strerror(errno));
	exit(127);
}

static int exit_code(int status) {
	if (WIFEXITED(status)) return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
	return 1;
}

/* Our only child, read from procfs: the root task of the restored tree. */
static pid_t only_child(void) {
	char path[64], buf[256];
	snprintf(path, sizeof(path), CHILDREN, (int)getpid());
	FILE *f = fopen(path, "r");
	if (!f) return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *end;
	long pid = strtol(buf, &end, 10);
	if (end == buf) return 0;                   /* no child */
	while (*end == ' ') end++;
	if (*end != 0 && *end != '\n') return -2;   /* more than one: refuse to guess */
	return (pid_t)pid;
}

/* Reaps every exited child; returns the application's exit code once it has exited, else -1. */
static int reap(pid_t app) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == app) return exit_code(status);
	}
	return -1;
}

static int supervise(void) {
	sigset_t all;
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) die("sigprocmask");
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	pid_t app = 0;
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&all, &info);
		if (sig < 0) {
			if (errno == EINTR) continue;
			die("sigwaitinfo");
		}
		if (sig == SIGCHLD) {
			int code = reap(app > 0 ? app : -1);
			if (code >= 0) return code;
			continue;
		}
		if (app == 0) {
			/* Before adoption: SIGUSR1 is the agent saying the restore finished. */
			if (sig == SIGUSR1) {
				app = only_child();
				if (app <= 0) {
					fprintf(stderr, "restore-init: no single restored process to adopt (%d)\n", (int)app);
					return 1;
				}
				/* It may have exited between criu's exit and our adoption. */
				int code = reap(app);
				if (code >= 0) return code;
				continue;
			}
			if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) return 128 + sig;
			continue;
		}
		kill(app, sig);
	}
}

int main(int argc, char **argv) {
	int first = 1;
	if (first < argc && strcmp(argv[first], "--") == 0) first++;

	if (access(MARKER, F_OK) == 0) return supervise();

	if (first >= argc) {
		fprintf(stderr, "restore-init: no command to run\n");
		return 127;
	}
	execvp(argv[first], argv + first);
	fprintf(stderr, "restore-init: exec %s: %s\n", argv[first], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
