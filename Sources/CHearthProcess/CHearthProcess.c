#define _GNU_SOURCE
#include "CHearthProcess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int hearth_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0U); }

int hearth_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, (void *)0, 0U);
}

int hearth_pidfd_wait_exit(int pidfd, int timeout_ms) {
    struct pollfd fd = {.fd = pidfd, .events = POLLIN};
    int ready;
    do {
        ready = poll(&fd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    return ready < 0 ? -1 : ready > 0 ? 1 : 0;
}

int hearth_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

void hearth_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
