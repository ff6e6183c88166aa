// data-ranges FILE: prints the file's data segments, one "START END" line each (bytes, END
// exclusive), found with lseek(SEEK_DATA/SEEK_HOLE), so that a sparse file's holes are never
// read (Node has no lseek). A filesystem without SEEK_DATA: one segment, the whole file.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: data-ranges FILE\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  off_t at = 0;
  while (at < st.st_size) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break; /* only a hole up to the end */
    if (data < 0) {
      if (errno == EINVAL && at == 0) { printf("0 %lld\n", (long long)st.st_size); return 0; }
      perror("lseek SEEK_DATA");
      return 1;
    }
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      perror("lseek SEEK_HOLE");
      return 1;
    }
    if (hole > st.st_size) hole = st.st_size;
    printf("%lld %lld\n", (long long)data, (long long)hole);
    at = hole;
  }
  return 0;
}
