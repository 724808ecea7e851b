/* Sources/CKernels/syscalls.c: system calls Swift's Glibc module does not expose. */
#define _GNU_SOURCE
#include "ckernels.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int64_t ingot_copy_file_range(int fd_in, int64_t *offset_in, int fd_out, size_t count) {
    off_t off = (off_t)*offset_in;
    ssize_t n = copy_file_range(fd_in, &off, fd_out, NULL, count, 0);
    if (n > 0) *offset_in = (int64_t)off;
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

int ingot_open_direct(const char *path) {
    int fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
