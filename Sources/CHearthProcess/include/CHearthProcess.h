// Linux process calls that Swift cannot reach through Glibc (variadic syscall(), _GNU_SOURCE declarations).
#ifndef C_HEARTH_PROCESS_H
#define C_HEARTH_PROCESS_H

#include <sys/types.h>

/// A descriptor that refers to process `pid` itself, not to whatever later reuses its number; -1 and errno on failure.
int hearth_pidfd_open(pid_t pid);

/// Sends `signal` to the process `pidfd` refers to: never to a process that reused its pid. 0, or -1 and errno.
int hearth_pidfd_send_signal(int pidfd, int signal);

/// Waits up to `timeout_ms` (-1: forever) for the process to exit: 1 exited, 0 still running, -1 and errno.
int hearth_pidfd_wait_exit(int pidfd, int timeout_ms);

/// A pipe whose two ends are close-on-exec, so that no child the process spawns inherits them by accident.
int hearth_pipe_cloexec(int fds[2]);

/// Makes standard output line-buffered, into a pipe too (Swift 6 cannot name C's `stdout` safely).
void hearth_line_buffer_stdout(void);

#endif
