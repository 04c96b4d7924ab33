/* SPDX-License-Identifier: MIT */
/*
 * The native Katapult engine over CAN: flash a 44 KiB image to a
 * kflash-sim CAN node on a simulated bus (the socket-dir transport: each
 * frame one SOCK_SEQPACKET packet through the bus relay), and compare the
 * time per round trip with the bare round trip of one frame over the same
 * relay (to a client that echoes it), measured in the same run.
 *
 *   can-flash KFLASH_SIM [ROUNDS]
 *
 * A Katapult round trip carries a command of several frames one way and
 * its answer of several frames back, so it costs some bare frame round
 * trips; the numbers show how many.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kflash/kflash.h>

#define IMAGE_SIZE (44 * 1024)
#define NODE_UUID "1f443a0e8cd0" /* kflash-sim's default serial */
#define ECHO_ID 0x123            /* an id no node listens to */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t
start_sim(const char *sim, const char *ready, const char *const *args)
{
	const char *argv[16] = { sim };
	FILE *f = NULL;
	size_t n = 1;
	pid_t pid;

	for (; *args && n < 13; args++)
		argv[n++] = *args;
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		execv(sim, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && !(f = fopen(ready, "r")); i++)
		usleep(10000);
	if (!f)
		return -1;
	fclose(f);
	return pid;
}

static int
connect_bus(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One 16-byte struct can_frame with id ECHO_ID, or any frame back. */
static int
frame_io(int fd, bool send_it, uint8_t frame[16])
{
	if (send_it) {
		memset(frame, 0, 16);
		frame[0] = ECHO_ID & 0xff;
		frame[1] = ECHO_ID >> 8;
		frame[4] = 8;
		return send(fd, frame, 16, 0) == 16 ? 0 : -1;
	}
	for (;;) {
		ssize_t n = recv(fd, frame, 16, 0);

		if (n == 16 && (frame[0] | frame[1] << 8) == ECHO_ID)
			return 0;
		if (n <= 0 && errno != EINTR)
			return -1;
	}
}

/* The bare round trip: a frame to a client on the same relay, and back. */
static double
frame_round_trip(const char *socket_path, int rounds)
{
	int a = connect_bus(socket_path), b = connect_bus(socket_path);
	uint8_t frame[16];
	double start, elapsed;
	pid_t echo;

	if (a < 0 || b < 0)
		return -1;
	echo = fork();
	if (echo == 0) {
		close(a);
		while (frame_io(b, false, frame) == 0 && send(b, frame, 16, 0) == 16) {
		}
		_exit(0);
	}
	close(b);
	/* The relay accepts clients as frames come: a first one unmeasured. */
	if (frame_io(a, true, frame) < 0 || frame_io(a, false, frame) < 0)
		return -1;
	start = now_s();
	for (int i = 0; i < rounds; i++)
		if (frame_io(a, true, frame) < 0 || frame_io(a, false, frame) < 0)
			return -1;
	elapsed = now_s() - start;
	close(a);
	kill(echo, SIGTERM);
	waitpid(echo, NULL, 0);
	return elapsed / rounds;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kflash-bench.XXXXXX", can[64], bus_ready[64], node_ready[64];
	char socket_path[80], cmd[256];
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	struct kflash_context *ctx;
	struct kflash_can_bus *bus;
	struct kflash_katapult *k;
	unsigned char *image = malloc(IMAGE_SIZE);
	double start, flash_s, rtt;
	uint64_t trips;
	pid_t relay, node;

	if (argc < 2 || rounds < 1 || !image) {
		fprintf(stderr, "usage: %s KFLASH_SIM [ROUNDS]\n", argv[0]);
		return 64;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(can, sizeof(can), "%s/can", dir);
	snprintf(bus_ready, sizeof(bus_ready), "%s/bus-ready", dir);
	snprintf(node_ready, sizeof(node_ready), "%s/node-ready", dir);
	snprintf(socket_path, sizeof(socket_path), "%s/can0", can);
	relay = start_sim(argv[1], bus_ready,
			  (const char *const[]){ "--mode", "bus", "--can-dir", can, NULL });
	node = relay < 0 ? -1
			 : start_sim(argv[1], node_ready,
				     (const char *const[]){ "--mode", "can", "--can-dir", can,
							    "--can-start", "katapult", NULL });
	if (relay < 0 || node < 0) {
		fprintf(stderr, "kflash-sim did not start\n");
		return 1;
	}
	for (size_t i = 0; i < IMAGE_SIZE; i++)
		image[i] = (unsigned char)(i * 31 + 7);

	if (kflash_context_new(&ctx) < 0 || kflash_context_set_can_socket_dir(ctx, can) < 0 ||
	    kflash_can_bus_open(ctx, "can0", &bus) < 0 ||
	    kflash_katapult_open_can(bus, NODE_UUID, &k) < 0 || kflash_katapult_connect(k) < 0) {
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
	kflash_can_bus_unref(bus);
	kflash_context_unref(ctx);
	kill(node, SIGTERM);
	waitpid(node, NULL, 0);
	rtt = frame_round_trip(socket_path, rounds);
	kill(relay, SIGTERM);
	waitpid(relay, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (rtt < 0) {
		fprintf(stderr, "the bare round trip could not be measured\n");
		return 1;
	}

	printf("image:                       %d bytes (write + verify) over CAN\n", IMAGE_SIZE);
	printf("wall time:                   %.3f s\n", flash_s);
	printf("round trips:                 %llu\n", (unsigned long long)trips);
	printf("per round trip:              %.1f us\n", flash_s / (double)trips * 1e6);
	printf("bare frame round trip:       %.1f us (SOCK_SEQPACKET, same relay)\n", rtt * 1e6);
	printf("round trip / bare frame rtt: %.2f\n", flash_s / ((double)trips * rtt));
	free(image);
	return 0;
}
