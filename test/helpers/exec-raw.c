/*
 * exec-raw [--block-sigalrm] [--env NAME=VALUE]… -- PROGRAM [ARGUMENT…]
 *
 * Executes PROGRAM with exactly the environment given (in that order, duplicates kept, which no
 * Node API can produce) and, with --block-sigalrm, with SIGALRM blocked in the signal mask it
 * inherits (as some process supervisors leave it). Compiled by the tests that need it.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char *env[256];
    int n = 0, i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--block-sigalrm") == 0) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGALRM);
            sigprocmask(SIG_BLOCK, &set, NULL);
        } else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc && n < 255) {
            env[n++] = argv[++i];
        } else {
            fprintf(stderr, "exec-raw: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    env[n] = NULL;
    if (i + 1 >= argc) {
        fprintf(stderr, "exec-raw: no program\n");
        return 2;
    }
    execve(argv[i + 1], argv + i + 1, env);
    perror("exec-raw: execve");
    return 127;
}
