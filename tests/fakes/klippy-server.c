/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for Klipper's API socket, for the tests: it answers "info",
 * "objects/list" and "objects/query" the way Klipper does, from its
 * command line, and can misbehave on purpose.
 *
 *   klippy-server --socket PATH [--ready-file F] [--log F]
 *                 [--state S] [--state-message M] [--software-version V]
 *                 [--print-state S] [--mcu NAME=VERSION[=TYPE]]...
 *                 [--config-file F]   info's config_file
 *                 [--ready-after N]   answer "startup" to the first N infos
 *                 [--unit-state F]    listen only while the file F (the fake
 *                                     systemctl's state of Klipper's unit)
 *                                     says "active", or is missing, as Klipper
 *                                     does while its service runs
 *                 [--misbehave KIND]  malformed | hang | close | no-etx |
 *                                     huge | error | not-object | no-result |
 *                                     empty-result (every answer is {}) |
 *                                     no-status (objects/query's is {})
 *
 * It runs until SIGTERM and removes its socket.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#define MAX_MCUS 8
#define MAX_CLIENTS 16

static struct {
	const char *socket, *ready_file, *log;
	const char *state, *state_message, *software_version, *print_state, *config_file;
	const char *mcu_name[MAX_MCUS], *mcu_version[MAX_MCUS], *mcu_type[MAX_MCUS];
	int n_mcus;
	int ready_after;
	const char *misbehave;
	const char *unit_state;
} opt = {
	.state = "ready",
	.state_message = "Printer is ready",
	.software_version = "v0.12.0-396-gabc1234",
	.print_state = "standby",
};

static volatile sig_atomic_t stop;
static int infos;

static void
on_term(int sig)
{
	stop = 1;
}

static void
log_request(const char *text)
{
	FILE *f;

	if (!opt.log || !(f = fopen(opt.log, "a")))
		return;
	fprintf(f, "request %s\n", text);
	fclose(f);
}

static void
send_text(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

static struct json_object *
result_for(const char *method, struct json_object *params)
{
	struct json_object *r = json_object_new_object();

	if (strcmp(method, "info") == 0) {
		bool starting = infos++ < opt.ready_after;

		json_object_object_add(r, "state",
				       json_object_new_string(starting ? "startup" : opt.state));
		json_object_object_add(r, "state_message",
				       json_object_new_string(starting ? "Printer is not ready"
								       : opt.state_message));
		json_object_object_add(r, "software_version",
				       json_object_new_string(opt.software_version));
		if (opt.config_file)
			json_object_object_add(r, "config_file",
					       json_object_new_string(opt.config_file));
	} else if (strcmp(method, "objects/list") == 0) {
		struct json_object *objects = json_object_new_array();

		json_object_array_add(objects, json_object_new_string("webhooks"));
		json_object_array_add(objects, json_object_new_string("print_stats"));
		for (int i = 0; i < opt.n_mcus; i++)
			json_object_array_add(objects, json_object_new_string(opt.mcu_name[i]));
		json_object_object_add(r, "objects", objects);
	} else if (strcmp(method, "objects/query") == 0) {
		struct json_object *status = json_object_new_object(), *wanted;

		if (json_object_object_get_ex(params, "objects", &wanted)) {
			json_object_object_foreach(wanted, name, fields)
			{
				struct json_object *o = json_object_new_object();

				(void)fields;
				if (strcmp(name, "print_stats") == 0)
					json_object_object_add(
						o, "state",
						json_object_new_string(opt.print_state));
				for (int i = 0; i < opt.n_mcus; i++) {
					struct json_object *constants;

					if (strcmp(name, opt.mcu_name[i]) != 0)
						continue;
					json_object_object_add(
						o, "mcu_version",
						json_object_new_string(opt.mcu_version[i]));
					constants = json_object_new_object();
					if (opt.mcu_type[i])
						json_object_object_add(
							constants, "MCU",
							json_object_new_string(opt.mcu_type[i]));
					json_object_object_add(o, "mcu_constants", constants);
				}
				json_object_object_add(status, name, o);
			}
		}
		json_object_object_add(r, "eventtime", json_object_new_double(1234.5));
		json_object_object_add(r, "status", status);
	} else {
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* Answer one request; returns false to drop the client. */
static bool
answer(int fd, const char *text)
{
	struct json_object *req = json_tokener_parse(text), *id = NULL, *method = NULL, *params;
	struct json_object *reply, *result;
	const char *m, *out;
	const char *bad = opt.misbehave;

	log_request(text);
	if (!req || !json_object_object_get_ex(req, "method", &method)) {
		json_object_put(req);
		return false;
	}
	json_object_object_get_ex(req, "id", &id);
	m = json_object_get_string(method);
	if (bad && strcmp(bad, "hang") == 0) {
		json_object_put(req);
		return true;
	}
	if (bad && strcmp(bad, "close") == 0) {
		json_object_put(req);
		return false;
	}
	if (bad && strcmp(bad, "malformed") == 0) {
		send_text(fd, "{\"id\": 1, \"result\": {\x03", 23);
		json_object_put(req);
		return true;
	}
	if (bad && strcmp(bad, "not-object") == 0) {
		send_text(fd, "[1, 2, 3]\x03", 10);
		json_object_put(req);
		return true;
	}
	if (bad && strcmp(bad, "huge") == 0) {
		static char chunk[65536];

		memset(chunk, ' ', sizeof(chunk));
		for (int i = 0; i < 40; i++)
			send_text(fd, chunk, sizeof(chunk));
		json_object_put(req);
		return true;
	}

	reply = json_object_new_object();
	/* A message that is not the answer comes first, as subscriptions do. */
	send_text(fd, "{\"params\": {\"status\": {}}}\x03", 27);
	json_object_object_add(reply, "id", json_object_get(id));
	params = json_object_object_get(req, "params");
	result = result_for(m, params);
	if ((bad && strcmp(bad, "error") == 0) || !result) {
		struct json_object *err = json_object_new_object();

		json_object_object_add(err, "error", json_object_new_string("WebRequestError"));
		json_object_object_add(err, "message", json_object_new_string("Invalid Request"));
		json_object_object_add(reply, "error", err);
		json_object_put(result);
	} else if (bad && strcmp(bad, "no-result") == 0) {
		json_object_put(result);
	} else if (bad && (strcmp(bad, "empty-result") == 0 ||
			   (strcmp(bad, "no-status") == 0 && strcmp(m, "objects/query") == 0))) {
		json_object_put(result);
		json_object_object_add(reply, "result", json_object_new_object());
	} else {
		json_object_object_add(reply, "result", result);
	}
	out = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	send_text(fd, out, strlen(out));
	if (!(bad && strcmp(bad, "no-etx") == 0))
		send_text(fd, "\x03", 1);
	json_object_put(reply);
	json_object_put(req);
	return !(bad && strcmp(bad, "no-etx") == 0);
}

/* Does Klipper's service run, as the fake systemctl's state file says? */
static bool
unit_active(void)
{
	char word[32] = "";
	FILE *f;

	if (!opt.unit_state || !(f = fopen(opt.unit_state, "r")))
		return true;
	if (!fgets(word, sizeof(word), f))
		word[0] = '\0';
	fclose(f);
	return strncmp(word, "active", 6) == 0;
}

static int
open_listener(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(opt.socket);
	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    listen(fd, 8) < 0) {
		perror("klippy-server: socket");
		exit(1);
	}
	return fd;
}

static void
usage(FILE *f, const char *argv0, int status)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"A stand-in for Klipper's API socket, for the tests.\n"
		"  --ready-file F         create F once the socket listens\n"
		"  --log F                append every request to F\n"
		"  --state S              info's state (ready)\n"
		"  --state-message M      info's state_message\n"
		"  --software-version V   info's software_version\n"
		"  --config-file F        info's config_file\n"
		"  --print-state S        print_stats.state (standby)\n"
		"  --mcu NAME=VERSION[=TYPE]  an MCU object, repeatable\n"
		"  --ready-after N        answer \"startup\" to the first N infos\n"
		"  --misbehave KIND       malformed, hang, close, no-etx, huge, error,\n"
		"                         not-object, no-result, empty-result, no-status\n"
		"  --unit-state F         listen only while F says active (or is missing)\n"
		"It runs until SIGTERM and removes its socket.\n",
		argv0);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "state-message", required_argument, NULL, 'M' },
		{ "software-version", required_argument, NULL, 'V' },
		{ "config-file", required_argument, NULL, 'c' },
		{ "print-state", required_argument, NULL, 'p' },
		{ "mcu", required_argument, NULL, 'm' },
		{ "ready-after", required_argument, NULL, 'a' },
		{ "misbehave", required_argument, NULL, 'b' },
		{ "unit-state", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct pollfd fds[MAX_CLIENTS + 1];
	char *bufs[MAX_CLIENTS + 1] = { 0 };
	size_t lens[MAX_CLIENTS + 1] = { 0 };
	struct sigaction sa = { .sa_handler = on_term };
	int c, listener, n = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *eq, *eq2;

		switch (c) {
		case 's':
			opt.socket = optarg;
			break;
		case 'r':
			opt.ready_file = optarg;
			break;
		case 'l':
			opt.log = optarg;
			break;
		case 'S':
			opt.state = optarg;
			break;
		case 'M':
			opt.state_message = optarg;
			break;
		case 'V':
			opt.software_version = optarg;
			break;
		case 'c':
			opt.config_file = optarg;
			break;
		case 'p':
			opt.print_state = optarg;
			break;
		case 'a':
			opt.ready_after = atoi(optarg);
			break;
		case 'b':
			opt.misbehave = optarg;
			break;
		case 'u':
			opt.unit_state = optarg;
			break;
		case 'h':
			usage(stdout, argv[0], 0);
			break;
		case 'm':
			if (opt.n_mcus == MAX_MCUS || !(eq = strchr(optarg, '=')))
				usage(stderr, argv[0], 64);
			*eq = '\0';
			eq2 = strchr(eq + 1, '=');
			if (eq2)
				*eq2 = '\0';
			opt.mcu_name[opt.n_mcus] = optarg;
			opt.mcu_version[opt.n_mcus] = eq + 1;
			opt.mcu_type[opt.n_mcus++] = eq2 ? eq2 + 1 : NULL;
			break;
		default:
			usage(stderr, argv[0], 64);
		}
	}
	if (!opt.socket || strlen(opt.socket) >= sizeof(addr.sun_path))
		usage(stderr, argv[0], 64);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	strcpy(addr.sun_path, opt.socket);
	listener = unit_active() ? open_listener(&addr) : -1;
	if (opt.ready_file) {
		FILE *f = fopen(opt.ready_file, "w");

		if (f)
			fclose(f);
	}
	while (!stop) {
		/* Klipper's socket lives as long as its service runs. */
		if (listener < 0 && unit_active()) {
			listener = open_listener(&addr);
		} else if (listener >= 0 && !unit_active()) {
			for (int i = 1; i < n; i++) {
				close(fds[i].fd);
				free(bufs[i]);
			}
			n = 1;
			close(listener);
			unlink(opt.socket);
			listener = -1;
		}
		fds[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
		if (poll(fds, (nfds_t)n, opt.unit_state ? 20 : 200) <= 0)
			continue;
		if (listener >= 0 && (fds[0].revents & POLLIN) && n <= MAX_CLIENTS) {
			int client = accept(listener, NULL, NULL);

			if (client >= 0) {
				fds[n] = (struct pollfd){ .fd = client, .events = POLLIN };
				bufs[n] = NULL;
				lens[n] = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			char chunk[4096], *etx;
			ssize_t got;
			bool keep = true;

			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			got = recv(fds[i].fd, chunk, sizeof(chunk), 0);
			if (got <= 0) {
				keep = false;
			} else {
				bufs[i] = realloc(bufs[i], lens[i] + (size_t)got + 1);
				memcpy(bufs[i] + lens[i], chunk, (size_t)got);
				lens[i] += (size_t)got;
				bufs[i][lens[i]] = '\0';
				while (keep && (etx = memchr(bufs[i], 0x03, lens[i]))) {
					size_t one = (size_t)(etx - bufs[i]);

					*etx = '\0';
					keep = answer(fds[i].fd, bufs[i]);
					memmove(bufs[i], etx + 1, lens[i] - one);
					lens[i] -= one + 1;
				}
			}
			if (!keep) {
				close(fds[i].fd);
				free(bufs[i]);
				fds[i] = fds[n - 1];
				bufs[i] = bufs[n - 1];
				lens[i] = lens[n - 1];
				n--;
				i--;
			}
		}
	}
	for (int i = 1; i < n; i++) {
		close(fds[i].fd);
		free(bufs[i]);
	}
	if (listener >= 0) {
		close(listener);
		unlink(opt.socket);
	}
	return 0;
}
