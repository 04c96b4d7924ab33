/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for Moonraker's UNIX socket, for the tests: JSON-RPC 2.0
 * messages ended by 0x03, answering machine.services.stop|start,
 * machine.system_info and printer.objects.query as Moonraker does. A stop
 * or start changes the unit's state file in the fake systemctl's state
 * directory, so the fake systemctl and the fake Klipper see the same state.
 * Before each answer it sends a notification, as Moonraker sends them to
 * every connection.
 *
 *   moonraker-server --socket PATH [--ready-file F] [--log F]
 *                    [--state-dir DIR]      unit states (default $KF_FAKE_STATE);
 *                                           a missing file is "active"
 *                    [--service NAME]...    the services it manages
 *                                           (default klipper and klipper-mcu)
 *                    [--print-state S]      print_stats.state (standby)
 *                    [--stop-lag N]         after a stop, report the unit
 *                                           "deactivating" N more times
 *                    [--misbehave KIND]     refuse | error | hang | close |
 *                                           garbage | endless | no-result |
 *                                           empty-result | parse-error |
 *                                           not-object | unknown-state
 *                    [--only METHOD]        misbehave for METHOD only
 *
 * Each request is logged as "moonraker METHOD[ SERVICE]". It runs until
 * SIGTERM and removes its socket.
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

#define MAX_SERVICES 8
#define MAX_CLIENTS 16

static struct {
	const char *socket, *ready_file, *log, *state_dir;
	const char *services[MAX_SERVICES];
	int n_services;
	const char *print_state;
	int stop_lag;
	const char *misbehave, *only;
} opt = {
	.print_state = "standby",
};

static volatile sig_atomic_t stop;
static int lag_left;
static char lagging[256];

static void
on_term(int sig)
{
	stop = 1;
}

static void
log_call(const char *method, const char *service)
{
	FILE *f;

	if (!opt.log || !(f = fopen(opt.log, "a")))
		return;
	fprintf(f, "moonraker %s%s%s\n", method, service ? " " : "", service ? service : "");
	fclose(f);
}

static void
send_text(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

static bool
manages(const char *service)
{
	for (int i = 0; i < opt.n_services; i++)
		if (strcmp(opt.services[i], service) == 0)
			return true;
	return false;
}

static char *
state_path(const char *service)
{
	char *path = NULL;

	if (!opt.state_dir || asprintf(&path, "%s/%s", opt.state_dir, service) < 0)
		return NULL;
	return path;
}

/* The unit's state, as the fake systemctl keeps it. */
static void
read_state(const char *service, char *word, size_t size)
{
	char *path = state_path(service);
	FILE *f = path ? fopen(path, "r") : NULL;

	snprintf(word, size, "active");
	if (f) {
		if (!fgets(word, (int)size, f))
			snprintf(word, size, "active");
		word[strcspn(word, "\n")] = '\0';
		fclose(f);
	}
	free(path);
}

static void
write_state(const char *service, const char *word)
{
	char *path = state_path(service);
	FILE *f = path ? fopen(path, "w") : NULL;

	if (f) {
		fprintf(f, "%s\n", word);
		fclose(f);
	}
	free(path);
}

static struct json_object *
rpc_error(int code, const char *message)
{
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	return err;
}

static struct json_object *
system_info(void)
{
	struct json_object *info = json_object_new_object(), *states = json_object_new_object();
	struct json_object *available = json_object_new_array(), *r = json_object_new_object();
	bool unknown = opt.misbehave && strcmp(opt.misbehave, "unknown-state") == 0;

	for (int i = 0; i < opt.n_services; i++) {
		struct json_object *one = json_object_new_object();
		char word[64];

		read_state(opt.services[i], word, sizeof(word));
		if (lag_left > 0 && strcmp(lagging, opt.services[i]) == 0)
			snprintf(word, sizeof(word), "deactivating");
		json_object_object_add(one, "active_state",
				       json_object_new_string(unknown ? "unknown" : word));
		json_object_object_add(one, "sub_state",
				       json_object_new_string(unknown ? "unknown"
							      : strcmp(word, "active") == 0
								      ? "running"
								      : "dead"));
		json_object_object_add(states, opt.services[i], one);
		json_object_array_add(available, json_object_new_string(opt.services[i]));
	}
	if (lag_left > 0)
		lag_left--;
	json_object_object_add(info, "provider", json_object_new_string("systemd_dbus"));
	json_object_object_add(info, "available_services", available);
	json_object_object_add(info, "service_state", states);
	json_object_object_add(r, "system_info", info);
	return r;
}

/* The result of @method, or NULL with *@err set. */
static struct json_object *
result_for(const char *method, struct json_object *params, struct json_object **err)
{
	struct json_object *v;
	const char *service = NULL;

	*err = NULL;
	if (json_object_object_get_ex(params, "service", &v))
		service = json_object_get_string(v);
	if (strcmp(method, "machine.services.stop") == 0 ||
	    strcmp(method, "machine.services.start") == 0) {
		bool starting = strcmp(method, "machine.services.start") == 0;
		char message[512];

		if (!service) {
			*err = rpc_error(-32602, "Invalid params: no 'service'");
			return NULL;
		}
		if (!manages(service)) {
			snprintf(message, sizeof(message), "Service '%s' not allowed", service);
			*err = rpc_error(400, message);
			return NULL;
		}
		write_state(service, starting ? "active" : "inactive");
		if (!starting && opt.stop_lag > 0) {
			snprintf(lagging, sizeof(lagging), "%s", service);
			lag_left = opt.stop_lag;
		}
		return json_object_new_string("ok");
	}
	if (strcmp(method, "machine.system_info") == 0)
		return system_info();
	if (strcmp(method, "printer.objects.query") == 0) {
		struct json_object *r = json_object_new_object(),
				   *status = json_object_new_object();
		struct json_object *stats = json_object_new_object();

		json_object_object_add(stats, "state", json_object_new_string(opt.print_state));
		json_object_object_add(status, "print_stats", stats);
		json_object_object_add(r, "eventtime", json_object_new_double(1234.5));
		json_object_object_add(r, "status", status);
		return r;
	}
	*err = rpc_error(-32601, "Method not found");
	return NULL;
}

static bool
misbehaves(const char *kind, const char *method)
{
	return opt.misbehave && strcmp(opt.misbehave, kind) == 0 &&
	       (!opt.only || (method && strcmp(opt.only, method) == 0));
}

/* Answer one request; returns false to drop the client. */
static bool
answer(int fd, const char *text)
{
	struct json_object *req = json_tokener_parse(text), *id = NULL, *method = NULL, *params;
	struct json_object *reply, *result, *err, *note, *note_params, *stats, *service;
	const char *m = NULL, *out;

	if (json_object_object_get_ex(req, "method", &method))
		m = json_object_get_string(method);
	json_object_object_get_ex(req, "id", &id);
	params = json_object_object_get(req, "params");
	if (m)
		log_call(m, json_object_object_get_ex(params, "service", &service)
				    ? json_object_get_string(service)
				    : NULL);

	/* A notification first; its params hold an "id" too, that is not the answer's. */
	note = json_object_new_object();
	note_params = json_object_new_array();
	stats = json_object_new_object();
	json_object_object_add(stats, "id", json_object_get(id));
	json_object_array_add(note_params, stats);
	json_object_object_add(note, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(note, "method", json_object_new_string("notify_proc_stat_update"));
	json_object_object_add(note, "params", note_params);
	out = json_object_to_json_string_ext(note, JSON_C_TO_STRING_PLAIN);
	send_text(fd, out, strlen(out));
	send_text(fd, "\x03", 1);
	json_object_put(note);

	if (misbehaves("hang", m)) {
		json_object_put(req);
		return true;
	}
	if (misbehaves("garbage", m)) {
		send_text(fd, "this is not JSON\x03", 17);
		json_object_put(req);
		return true;
	}
	if (misbehaves("not-object", m)) {
		send_text(fd, "[1, 2, 3]\x03", 10);
		json_object_put(req);
		return true;
	}
	if (misbehaves("endless", m)) {
		static char chunk[65536];

		static const char start[] = "{\"jsonrpc\": \"2.0\", \"result\": \"";

		memset(chunk, ' ', sizeof(chunk));
		send_text(fd, start, strlen(start));
		/* Until the client gives up and goes away. */
		for (;;) {
			ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
		}
		json_object_put(req);
		return false;
	}

	reply = json_object_new_object();
	json_object_object_add(reply, "jsonrpc", json_object_new_string("2.0"));
	if (!req || !m || misbehaves("parse-error", m)) {
		json_object_object_add(reply, "error", rpc_error(-32700, "Parse error"));
		json_object_object_add(reply, "id", NULL);
	} else if (misbehaves("error", m)) {
		json_object_object_add(reply, "error",
				       rpc_error(503, "DBus Not Connected, the fake was told to "
						      "fail"));
		json_object_object_add(reply, "id", json_object_get(id));
	} else {
		result = result_for(m, params, &err);
		if (err) {
			json_object_object_add(reply, "error", err);
		} else if (misbehaves("no-result", m)) {
			json_object_put(result);
		} else if (misbehaves("empty-result", m)) {
			json_object_put(result);
			json_object_object_add(reply, "result", json_object_new_object());
		} else {
			json_object_object_add(reply, "result", result);
		}
		json_object_object_add(reply, "id", json_object_get(id));
	}
	out = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	if (misbehaves("close", m)) {
		/* Half the answer, then gone. */
		send_text(fd, out, strlen(out) / 2);
		json_object_put(reply);
		json_object_put(req);
		return false;
	}
	send_text(fd, out, strlen(out));
	send_text(fd, "\x03", 1);
	json_object_put(reply);
	json_object_put(req);
	return true;
}

static void
usage(FILE *f, const char *argv0, int status)
{
	fprintf(f,
		"Usage: %s --socket PATH [options]\n"
		"A stand-in for Moonraker's UNIX socket, for the tests.\n"
		"  --ready-file F         create F once the socket is there\n"
		"  --log F                append every request to F\n"
		"  --state-dir DIR        unit states, as the fake systemctl keeps them\n"
		"                         (default $KF_FAKE_STATE)\n"
		"  --service NAME         a service it manages, repeatable\n"
		"                         (default klipper and klipper-mcu)\n"
		"  --print-state S        print_stats.state (standby)\n"
		"  --stop-lag N           report a stopped unit deactivating N more times\n"
		"  --misbehave KIND       refuse, error, hang, close, garbage, endless,\n"
		"                         no-result, empty-result, parse-error, not-object,\n"
		"                         unknown-state\n"
		"  --only METHOD          misbehave for METHOD only\n"
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
		{ "state-dir", required_argument, NULL, 'd' },
		{ "service", required_argument, NULL, 'S' },
		{ "print-state", required_argument, NULL, 'p' },
		{ "stop-lag", required_argument, NULL, 'L' },
		{ "misbehave", required_argument, NULL, 'b' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct pollfd fds[MAX_CLIENTS + 1];
	char *bufs[MAX_CLIENTS + 1] = { 0 };
	size_t lens[MAX_CLIENTS + 1] = { 0 };
	struct sigaction sa = { .sa_handler = on_term };
	bool refuse;
	int c, listener, n = 1;

	opt.state_dir = getenv("KF_FAKE_STATE");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
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
		case 'd':
			opt.state_dir = optarg;
			break;
		case 'S':
			if (opt.n_services == MAX_SERVICES)
				usage(stderr, argv[0], 64);
			opt.services[opt.n_services++] = optarg;
			break;
		case 'p':
			opt.print_state = optarg;
			break;
		case 'L':
			opt.stop_lag = atoi(optarg);
			break;
		case 'b':
			opt.misbehave = optarg;
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 'h':
			usage(stdout, argv[0], 0);
			break;
		default:
			usage(stderr, argv[0], 64);
		}
	}
	if (!opt.socket || strlen(opt.socket) >= sizeof(addr.sun_path))
		usage(stderr, argv[0], 64);
	if (opt.n_services == 0) {
		opt.services[opt.n_services++] = "klipper";
		opt.services[opt.n_services++] = "klipper-mcu";
	}
	refuse = opt.misbehave && strcmp(opt.misbehave, "refuse") == 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	strcpy(addr.sun_path, opt.socket);
	unlink(opt.socket);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Refusing: the socket file is there, but nothing listens on it. */
	if (listener < 0 || bind(listener, (const struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    (!refuse && listen(listener, 8) < 0)) {
		perror("moonraker-server: socket");
		return 1;
	}
	if (opt.ready_file) {
		FILE *f = fopen(opt.ready_file, "w");

		if (f)
			fclose(f);
	}
	while (!stop) {
		fds[0] = (struct pollfd){ .fd = refuse ? -1 : listener, .events = POLLIN };
		if (poll(fds, (nfds_t)n, 200) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n <= MAX_CLIENTS) {
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
	close(listener);
	unlink(opt.socket);
	return 0;
}
