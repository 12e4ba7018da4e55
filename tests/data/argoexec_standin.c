/* A stand-in for argoexec in the tests: prints `argoexec version` in upstream's format.
 * VERSION, PLATFORM and SLEEP_S are set with -D when the test compiles it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION "v0.0.0"
#endif
#ifndef PLATFORM
#define PLATFORM "linux/amd64"
#endif
#ifndef SLEEP_S
#define SLEEP_S 0
#endif

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        if (SLEEP_S > 0) {
            sleep(SLEEP_S);
        }
        printf("argoexec: %s\n", VERSION);
        printf("  BuildDate: 2026-11-21T00:00:00Z\n");
        printf("  GitCommit: 0000000000000000000000000000000000000000\n");
        printf("  GitTreeState: clean\n");
        printf("  GitTag: %s\n", VERSION);
        printf("  GoVersion: go1.26.5\n");
        printf("  Compiler: gc\n");
        printf("  Platform: %s\n", PLATFORM);
        return 0;
    }
    fprintf(stderr, "usage: argoexec version\n");
    return 2;
}
