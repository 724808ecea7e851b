// make bench-page-recycle: how fast a layer-streamed reader fills the page cache, depending on when the memory it
// lands in was freed (docs/engine.md, "Layer streaming"; results in bench/RESULTS.md).
//
// Usage: page_recycle OLD NEW MODE. OLD is read into the page cache first (by the caller), then NEW is read the way
// ingot's reader reads (32 MiB pieces: MADV_POPULATE_READ on a huge-page mapping, one load per 4 KiB page, unmap).
//   MODE at-once: OLD leaves the page cache all at once, then a pause of 10 s (what a run that drops a computed
//                 layer at once leaves the next read: memory freed seconds earlier);
//   MODE piecewise: before each piece of NEW, as many bytes of OLD leave the page cache (ingot's RetiredPages).
// Prints the wall time and the reading thread's CPU time.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t file_size(int fd, const char *path) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        exit(2);
    }
    return (size_t)st.st_size;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "at-once") != 0 && strcmp(argv[3], "piecewise") != 0)) {
        fprintf(stderr, "usage: %s OLD NEW at-once|piecewise\n", argv[0]);
        return 2;
    }
    int piecewise = strcmp(argv[3], "piecewise") == 0;
    int old_fd = open(argv[1], O_RDONLY), new_fd = open(argv[2], O_RDONLY);
    size_t old_size = file_size(old_fd, argv[1]), new_size = file_size(new_fd, argv[2]);
    unsigned char *map = mmap(NULL, new_size, PROT_READ, MAP_SHARED, new_fd, 0);
    if (map == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    madvise(map, new_size, MADV_HUGEPAGE);
    if (!piecewise) {
        posix_fadvise(old_fd, 0, (off_t)old_size, POSIX_FADV_DONTNEED);
        sleep(10);
    }
    const size_t piece = (size_t)32 << 20;
    double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_THREAD_CPUTIME_ID);
    volatile unsigned char fold = 0;
    size_t evicted = 0;
    for (size_t start = 0; start < new_size; start += piece) {
        size_t n = new_size - start < piece ? new_size - start : piece;
        if (piecewise && evicted < old_size) {
            posix_fadvise(old_fd, (off_t)evicted, (off_t)n, POSIX_FADV_DONTNEED);
            evicted += n;
        }
        if (madvise(map + start, n, MADV_POPULATE_READ) != 0) {
            perror("madvise(MADV_POPULATE_READ)");
            return 2;
        }
        for (size_t i = 0; i < n; i += 4096) fold ^= map[start + i];
        madvise(map + start, n, MADV_DONTNEED);
    }
    wall = seconds(CLOCK_MONOTONIC) - wall;
    cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu;
    printf("%-9s read %.2f GB in %.2f s (%.2f GB/s), reading thread's CPU %.2f s\n", argv[3], (double)new_size / 1e9,
           wall, (double)new_size / 1e9 / wall, cpu);
    return 0;
}
