// hearth-engine-guard: runs an engine so that it dies with the node agent that started it, however the agent dies.
//
//   hearth-engine-guard [--grace-ms N] -- PROGRAM [ARGUMENT...]
//
// The agent holds the write end of a pipe on the guard's standard input. When the agent dies, SIGKILL included, the
// kernel closes that end, the guard reads end of file, sends the engine SIGTERM, SIGKILL after the grace (default
// 2000 ms) and exits. The engine has PR_SET_PDEATHSIG=SIGKILL, so it dies if the guard itself is killed. (The agent
// cannot set PR_SET_PDEATHSIG itself: it fires when the *thread* that forked exits, and the agent's threads come and
// go. The guard is single-threaded, so its forking thread lives exactly as long as the guard.)
//
// The guard writes the engine's pid and a newline on standard output, then points standard output at /dev/null. It
// forwards SIGTERM, SIGINT and SIGHUP to the engine and exits as the engine did: the same exit code, or killed by the
// same signal. The engine gets /dev/null as standard input and output and the guard's standard error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *name = "hearth-engine-guard";

/// Closes the descriptors from `first` to `last` (inclusive).
static void close_descriptors(unsigned first, unsigned last) {
    if (first > last) return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, first, last, 0U) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1048576) max = 1048576;
    for (long fd = first; fd < max && fd <= (long)last; fd++) close((int)fd);
}

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int usage(void) {
    fprintf(stderr, "usage: %s [--grace-ms N] -- PROGRAM [ARGUMENT...]\n", name);
    return 64;
}

/// Ends the guard the way the engine ended: its exit code, or the same signal (without a core file of the guard).
static void exit_like(int status) {
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(70);
}

int main(int argc, char **argv) {
    // The guard keeps what it inherited: the agent's spawner (Foundation's Process) closes everything else but the
    // socket by which it learns that the guard exited; closing that here made it wait for the guard in a blocking
    // waitpid that stalled every other child's exit. The lifeline's other end is close-on-exec in the agent, so it
    // is never among them. The engine, below, inherits nothing above standard error.

    long grace_ms = 2000;
    int index = 1;
    while (index < argc && strcmp(argv[index], "--") != 0) {
        if (strcmp(argv[index], "--grace-ms") == 0 && index + 1 < argc) {
            char *end = NULL;
            errno = 0;
            long value = strtol(argv[index + 1], &end, 10);
            if (errno != 0 || end == argv[index + 1] || *end != '\0' || value < 0 || value > 600000) return usage();
            grace_ms = value;
            index += 2;
        } else {
            return usage();
        }
    }
    if (index + 1 >= argc) return usage();
    char **engine_argv = argv + index + 1;

    // The agent's thread blocks nearly every signal and its signal handling ignores SIGTERM, SIGINT and SIGPIPE; the
    // guard and its engine inherit both across exec. An ignored signal never reaches a signalfd and an engine could
    // not be stopped, so every disposition goes back to the default and the engine starts with nothing blocked.
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    sigset_t nothing;
    sigemptyset(&nothing);

    // Signals arrive through a descriptor so that one poll loop, on one thread, sees everything.
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGCHLD);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGHUP);
    if (sigprocmask(SIG_SETMASK, &handled, NULL) != 0) return 71;
    int signals = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signals < 0) {
        perror("hearth-engine-guard: signalfd");
        return 71;
    }
    // A reader of our pid report that went away must not kill the guard; the engine gets the default back below.
    signal(SIGPIPE, SIG_IGN);

    // exec's failure travels back on a close-on-exec pipe: nothing arrives when exec succeeds.
    int exec_error[2];
    if (pipe2(exec_error, O_CLOEXEC) != 0) {
        perror("hearth-engine-guard: pipe2");
        return 71;
    }
    pid_t guard = getpid();
    pid_t engine = fork();
    if (engine < 0) {
        perror("hearth-engine-guard: fork");
        return 71;
    }
    if (engine == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(71);
        // The guard may have died between fork and prctl: then no signal would ever come.
        if (getppid() != guard) _exit(71);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &nothing, NULL);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) _exit(71);
        if (null > STDERR_FILENO) close(null);
        // Nothing the guard inherited (the agent's socket, a stray pipe end) may live on in the engine.
        close_descriptors(3, (unsigned)exec_error[1] - 1);
        close_descriptors((unsigned)exec_error[1] + 1, ~0U);
        execvp(engine_argv[0], engine_argv);
        int error = errno;
        ssize_t ignored = write(exec_error[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    close(exec_error[1]);
    int error = 0;
    ssize_t got;
    do {
        got = read(exec_error[0], &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    close(exec_error[0]);
    if (got == (ssize_t)sizeof error) {
        fprintf(stderr, "%s: cannot run %s: %s\n", name, engine_argv[0], strerror(error));
        int status;
        while (waitpid(engine, &status, 0) < 0 && errno == EINTR) {}
        return 127;
    }

    dprintf(STDOUT_FILENO, "%d\n", (int)engine);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }

    int lifeline_open = 1;
    long long kill_at = -1;  // when the engine gets SIGKILL after the lifeline closed; -1: not stopping
    for (;;) {
        struct pollfd fds[2] = {{.fd = signals, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        int timeout = -1;
        if (kill_at >= 0) {
            long long left = kill_at - now_ms();
            timeout = left > 0 ? (int)(left > INT_MAX ? INT_MAX : left) : 0;
        }
        int ready = poll(fds, lifeline_open ? 2 : 1, timeout);
        if (ready < 0 && errno != EINTR) {
            perror("hearth-engine-guard: poll");
            kill(engine, SIGKILL);
        }
        if (kill_at >= 0 && now_ms() >= kill_at) {
            kill(engine, SIGKILL);
            kill_at = -1;
        }
        if (ready <= 0) continue;

        if (lifeline_open && fds[1].revents != 0) {
            char buffer[256];
            ssize_t count = read(STDIN_FILENO, buffer, sizeof buffer);
            if (count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) || (fds[1].revents & POLLNVAL)) {
                // The agent is gone (or closed the lifeline to stop us): stop the engine, firmly after the grace.
                lifeline_open = 0;
                kill(engine, SIGTERM);
                kill_at = now_ms() + grace_ms;
            }
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read(signals, &info, sizeof info) == (ssize_t)sizeof info) {
                if (info.ssi_signo == SIGCHLD) {
                    int status;
                    pid_t done;
                    while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
                        if (done == engine) exit_like(status);
                    }
                } else {
                    kill(engine, (int)info.ssi_signo);
                }
            }
        }
    }
}
