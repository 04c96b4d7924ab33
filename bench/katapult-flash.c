/* SPDX-License-Identifier: MIT */
/*
 * How close the native Katapult engine gets to the line: flash a 44 KiB
 * image to kflash-sim and compare the time with the round trips it took
 * times the bare round-trip time of a pty, measured in the same run.
 *
 *   katapult-flash KFLASH_SIM [ROUNDS]
 *
 * Prints the numbers; the target is a ratio of at most 1.5.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <kflash/kflash.h>

#define IMAGE_SIZE (44 * 1024)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bare round trip: 8 bytes to an echoing process on a pty and back. */
static double
pty_round_trip(int rounds)
{
	struct termios raw;
	int master, slave;
	char buf[8] = "01234567";
	double start, elapsed;
	pid_t echo;

	if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
		return -1;
	cfmakeraw(&raw);
	tcsetattr(slave, TCSANOW, &raw);
	echo = fork();
	if (echo == 0) {
		char b[64];
		ssize_t n;

		close(slave);
		while ((n = read(master, b, sizeof(b))) > 0)
			if (write(master, b, (size_t)n) != n)
				break;
		_exit(0);
	}
	close(master);
	start = now_s();
	for (int i = 0; i < rounds; i++) {
		size_t got = 0;

		if (write(slave, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
		while (got < sizeof(buf)) {
			ssize_t n = read(slave, buf + got, sizeof(buf) - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	elapsed = now_s() - start;
	close(slave);
	kill(echo, SIGTERM);
	waitpid(echo, NULL, 0);
	return elapsed / rounds;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", dev[64], ready[64], cmd[256];
	struct kflash_context *ctx;
	struct kflash_katapult *k;
	unsigned char *image = malloc(IMAGE_SIZE);
	char *path = NULL;
	size_t path_size = 0;
	double start, flash_s, rtt;
	uint64_t trips;
	FILE *f = NULL;
	pid_t sim;

	if (argc < 2) {
		fprintf(stderr, "usage: %s KFLASH_SIM\n", argv[0]);
		return 64;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(dev, sizeof(dev), "%s/dev", dir);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	sim = fork();
	if (sim == 0) {
		execl(argv[1], argv[1], "--dev-dir", dev, "--mode", "katapult", "--ready-file",
		      ready, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !(f = fopen(ready, "r")); i++)
		usleep(10000);
	if (!f || getline(&path, &path_size, f) <= 0) {
		fprintf(stderr, "kflash-sim did not start\n");
		return 1;
	}
	fclose(f);
	path[strcspn(path, "\n")] = '\0';
	for (size_t i = 0; i < IMAGE_SIZE; i++)
		image[i] = (unsigned char)(i * 31 + 7);

	if (kflash_context_new(&ctx) < 0 || kflash_katapult_open(ctx, path, 0, &k) < 0 ||
	    kflash_katapult_connect(k) < 0) {
		fprintf(stderr, "cannot connect: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	start = now_s();
	if (kflash_katapult_write(k, image, IMAGE_SIZE) < 0 || kflash_katapult_verify(k) < 0) {
		fprintf(stderr, "flash failed: %s\n", kflash_context_last_error(ctx));
		return 1;
	}
	flash_s = now_s() - start;
	trips = kflash_katapult_get_round_trips(k) - 1; /* without CONNECT */
	kflash_katapult_complete(k);
	kflash_katapult_unref(k);
	kflash_context_unref(ctx);
	kill(sim, SIGTERM);
	waitpid(sim, NULL, 0);
	rtt = pty_round_trip(2000);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);

	printf("image:                 %d bytes (write + verify)\n", IMAGE_SIZE);
	printf("wall time:             %.3f s\n", flash_s);
	printf("round trips:           %llu\n", (unsigned long long)trips);
	printf("per round trip:        %.1f us\n", flash_s / (double)trips * 1e6);
	printf("bare pty round trip:   %.1f us\n", rtt * 1e6);
	printf("ratio:                 %.2f (target <= 1.5)\n", flash_s / ((double)trips * rtt));
	free(path);
	free(image);
	return 0;
}
