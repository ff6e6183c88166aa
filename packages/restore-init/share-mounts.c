/*
 * share-mounts: makes the tmpfs mounts a migration restored for the application the container's
 * own, so that `docker exec` and `docker cp` see the application's files there.
 *
 *   share-mounts APP_PID HELPER_PID PATH...
 *
 * criu restore gives the restored tree a mount namespace of its own, with its tmpfs mounts and
 * their content; Docker enters the container's PID 1 (the restore helper), whose namespace has
 * the new container's empty tmpfs mounts at the same paths. For each PATH, a clone of the
 * application's mount (open_tree: the same tmpfs, not a copy) is mounted over the helper's.
 * Run by the destination agent (root) on the host; single-threaded, as setns(CLONE_NEWNS) needs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int fail(const char *what, const char *arg) {
	fprintf(stderr, "share-mounts: %s %s: %s\n", what, arg, strerror(errno));
	return 1;
}

static int mount_ns(const char *pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: share-mounts APP_PID HELPER_PID PATH...\n");
		return 2;
	}
	int app = mount_ns(argv[1]), helper = mount_ns(argv[2]);
	if (app < 0) return fail("open the mount namespace of", argv[1]);
	if (helper < 0) return fail("open the mount namespace of", argv[2]);
	for (int i = 3; i < argc; i++) {
		const char *p = argv[i];
		if (p[0] != '/') {
			errno = EINVAL;
			return fail("not an absolute path:", p);
		}
		/* setns puts our root and cwd at the namespace's root: p resolves in the container. */
		if (setns(app, CLONE_NEWNS) != 0) return fail("enter the application's mount namespace for", p);
		int tree = (int)syscall(SYS_open_tree, AT_FDCWD, p, OPEN_TREE_CLONE | O_CLOEXEC);
		if (tree < 0) return fail("clone the application's mount", p);
		if (setns(helper, CLONE_NEWNS) != 0) return fail("enter the container's mount namespace for", p);
		if (syscall(SYS_move_mount, tree, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("mount over", p);
		close(tree);
	}
	return 0;
}
