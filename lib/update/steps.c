/* SPDX-License-Identifier: MIT */
/* The update's steps before the stop, each over every board of the job. */
#include <string.h>

#include "klipper/klipper.h"
#include "update-private.h"

bool
kf_update_stop_early(struct kflash_update *u)
{
	bool failed = false;

	if (kflash_context_is_cancelled(u->ctx))
		return true;
	if (!(u->flags & KFLASH_UPDATE_FAIL_FAST))
		return false;
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; !failed && i < u->count; i++)
		failed = u->boards[i].result == KFLASH_RESULT_FAILED;
	pthread_mutex_unlock(&u->lock);
	return failed;
}

int
kf_update_first_failure(const struct kflash_update *u)
{
	for (size_t i = 0; i < u->count; i++)
		if (u->boards[i].result == KFLASH_RESULT_FAILED)
			return u->boards[i].error;
	return 0;
}

int
kf_update_resolve(struct kflash_update *u)
{
	struct kflash_registry *reg;
	int r = kflash_registry_load(u->ctx, &reg);

	if (r < 0)
		return r;
	for (size_t i = 0; u->all && r == 0 && i < kflash_registry_get_board_count(reg); i++)
		r = kf_update_add(u, kflash_board_get_name(kflash_registry_get_board(reg, i)),
				  NULL);
	for (size_t i = 0; r == 0 && i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_board *board = kflash_registry_find_board(reg, b->name);

		if (!board) {
			r = kf_error_hint(u->ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_LIST_BOARDS,
					  b->name, "no board named %s is registered", b->name);
			break;
		}
		b->board = kflash_board_ref(board);
		b->go = true;
		/* For this run only: the registry keeps the board's own method. */
		if (u->method != KFLASH_METHOD_NONE)
			r = kflash_board_set_method(board, (enum kflash_method)u->method);
	}
	if (r == 0 && u->count == 0)
		r = kf_error_hint(u->ctx, KFLASH_ERR_NOT_FOUND, KFLASH_HINT_ADD_BOARD, NULL,
				  "there are no boards to flash: no board is registered");
	kflash_registry_unref(reg);
	return r;
}

/* Klipper's default, when printer.cfg names no canbus_interface. */
#define DEFAULT_CAN_INTERFACE "can0"

/* A CAN node Klipper runs answers no query: it is found on its bus when flashed. */
static void
found_can_node(struct kflash_update *u, struct job_board *b)
{
	const char *iface = kflash_board_get_can_interface(b->board);

	b->link = KFLASH_LINK_CAN;
	b->iface = kf_strdup(iface ? iface : DEFAULT_CAN_INTERFACE);
	kf_info(u->ctx, "CAN node %s on %s", kflash_board_get_can_uuid(b->board),
		b->iface ? b->iface : DEFAULT_CAN_INTERFACE);
}

/* A bridge, registered as one or found by its UUID: its own interface is where its nodes are. */
static void
found_bridge(struct kflash_update *u, struct job_board *b, const struct kflash_device *dev)
{
	const char *iface = kflash_board_get_can_interface(b->board);

	if (!iface)
		iface = kflash_device_get_net_interface(dev);
	b->link = KFLASH_LINK_CAN_BRIDGE;
	b->iface = kf_strdup(iface ? iface : DEFAULT_CAN_INTERFACE);
	b->bridge_up = kflash_device_get_mode(dev) == KFLASH_MODE_CAN_BRIDGE;
	kf_info(u->ctx, "USB-to-CAN bridge of %s, %s mode at %s",
		b->iface ? b->iface : DEFAULT_CAN_INTERFACE,
		kflash_device_mode_name(kflash_device_get_mode(dev)), kflash_device_get_path(dev));
}

/* A serial board: its port tells it apart from the others in a ROM bootloader. */
static void
found_serial(struct kflash_update *u, struct job_board *b, const struct kflash_device *dev)
{
	if (kflash_device_get_usb_port(dev))
		b->usb_port = kf_strdup(kflash_device_get_usb_port(dev));
	if (kflash_device_get_mode(dev) == KFLASH_MODE_UNKNOWN)
		kf_info(u->ctx, "at %s, a serial port of unknown mode",
			kflash_device_get_path(dev));
	else
		kf_info(u->ctx, "%s mode at %s",
			kflash_device_mode_name(kflash_device_get_mode(dev)),
			kflash_device_get_path(dev));
}

void
kf_update_discover(struct kflash_update *u)
{
	struct kf_scope prev = kf_scope_enter(u->ctx, KFLASH_PHASE_DISCOVERY, NULL);

	kf_phase_event(u->ctx, "finding %zu board%s", u->count, u->count == 1 ? "" : "s");
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_device *dev = NULL;
		struct kf_scope inner;
		int link = kflash_board_get_link(b->board);
		int r;

		b->link = link;
		/* The Linux process runs on this host: there is no device to find. */
		if (link == KFLASH_LINK_HOST)
			continue;
		inner = kf_scope_enter(u->ctx, KFLASH_PHASE_DISCOVERY, b->name);
		r = kflash_discovery_locate(u->ctx, b->board, &dev);
		if (r == KFLASH_ERR_NOT_SUPPORTED && link == KFLASH_LINK_CAN)
			found_can_node(u, b);
		else if (r < 0)
			kf_update_fail(u, b, r);
		else if (link != KFLASH_LINK_SERIAL)
			found_bridge(u, b, dev);
		else
			found_serial(u, b, dev);
		kflash_device_unref(dev);
		kf_scope_leave(u->ctx, inner);
	}
	kf_scope_leave(u->ctx, prev);
}

int
kf_update_order(struct kflash_update *u)
{
	struct job_board *sorted;
	struct kf_scope prev;
	size_t n = 0, bridges = 0;

	for (size_t i = 0; i < u->count; i++)
		bridges += u->boards[i].link == KFLASH_LINK_CAN_BRIDGE;
	if (!bridges)
		return 0;
	sorted = calloc(u->count, sizeof(*sorted));
	if (!sorted)
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < u->count; i++)
			if ((u->boards[i].link == KFLASH_LINK_CAN_BRIDGE) == (pass == 1))
				sorted[n++] = u->boards[i];
	free(u->boards);
	u->boards = sorted;
	prev = kf_scope_enter(u->ctx, KFLASH_PHASE_DISCOVERY, NULL);
	kf_info(u->ctx, "%zu USB-to-CAN bridge%s flashed last, after the CAN nodes behind %s",
		bridges, bridges == 1 ? " is" : "s are", bridges == 1 ? "it" : "them");
	kf_scope_leave(u->ctx, prev);
	return 0;
}

/* Klipper's make flash installs the host MCU with `sudo ./scripts/flash-linux.sh`. */
static int
check_host_mcu_sudo(struct kflash_update *u)
{
	_cleanup_free_ char *script =
		kf_path_join(kflash_context_get_klipper_dir(u->ctx), "scripts/flash-linux.sh");

	if (!script)
		return kf_error(u->ctx, KFLASH_ERR_NO_MEMORY, "out of memory");
	return kflash_service_check_sudo(u->ctx, script);
}

/* A CAN node or bridge has no port for make flash or an SD card script: said before the stop. */
static int
check_method(struct kflash_update *u, const struct job_board *b)
{
	enum kflash_method m = kflash_board_get_method(b->board);

	if ((b->link != KFLASH_LINK_CAN && b->link != KFLASH_LINK_CAN_BRIDGE) ||
	    (m != KFLASH_METHOD_MAKE && m != KFLASH_METHOD_SDCARD))
		return 0;
	return kf_error_hint(u->ctx, KFLASH_ERR_NOT_SUPPORTED, KFLASH_HINT_EDIT_BOARD, b->name,
			     "board %s is a %s, which only Katapult can flash (not %s); set its "
			     "method to katapult or auto",
			     b->name, b->link == KFLASH_LINK_CAN ? "CAN node" : "USB-to-CAN bridge",
			     kflash_method_name(m));
}

void
kf_update_check_configs(struct kflash_update *u)
{
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kflash_config *c = NULL;
		struct kf_scope prev;
		int r;

		if (!b->go)
			continue;
		prev = kf_scope_enter(u->ctx, KFLASH_PHASE_CONFIG, b->name);
		r = check_method(u, b);
		if (r == 0 && b->given) {
			kf_scope_leave(u->ctx, prev);
			continue;
		}
		if (r == 0)
			r = kflash_board_config_load(u->ctx, b->board, &c);
		if (r == 0)
			kf_info(u->ctx, "%s: %s, %s", kflash_config_get_path(c),
				kflash_config_get_mcu(c),
				kflash_comm_name(kflash_config_get_comm(c)));
		if (r == 0 && kflash_board_is_host_mcu(b->board))
			r = check_host_mcu_sudo(u);
		/*
		 * The bus is checked now, while Klipper still runs: a node's, and a
		 * bridge's own while it is up (one left in Katapult has none).
		 */
		if (r == 0 && b->iface && (b->link == KFLASH_LINK_CAN || b->bridge_up))
			r = kflash_can_check_interface(u->ctx, b->iface,
						       kflash_config_get_canbus_frequency(c));
		if (r < 0)
			kf_update_fail(u, b, r);
		kflash_config_unref(c);
		kf_scope_leave(u->ctx, prev);
	}
}

/* Board @b's firmware: the file given, its last build, or a build now (on @ctx). */
static int
get_firmware(struct kflash_update *u, struct kflash_context *ctx, struct job_board *b)
{
	struct kflash_build *built = NULL;
	struct kflash_firmware *fw = NULL;
	int source, r;

	if (b->given) {
		source = KFLASH_FIRMWARE_GIVEN;
		r = kflash_firmware_load(ctx, b->given, &fw);
	} else if (u->flags & KFLASH_UPDATE_NO_BUILD) {
		source = KFLASH_FIRMWARE_LAST_BUILD;
		r = kflash_build_load_last(ctx, b->board, &fw);
	} else {
		r = kflash_build_board(ctx, b->board,
				       (u->flags & KFLASH_UPDATE_CLEAN) ? KFLASH_BUILD_CLEAN : 0,
				       &built);
		source = r == 0 && kflash_build_get_result(built) == KFLASH_BUILD_UP_TO_DATE
				 ? KFLASH_FIRMWARE_UP_TO_DATE
				 : KFLASH_FIRMWARE_BUILT;
		if (r == 0)
			fw = kflash_firmware_ref(kflash_build_get_firmware(built));
		kflash_build_unref(built);
	}
	/* A file's MCU is checked now, before anything is stopped. */
	if (r == 0 && (b->given || (u->flags & KFLASH_UPDATE_NO_BUILD)))
		r = kflash_firmware_check_board(ctx, fw, b->board);
	pthread_mutex_lock(&u->lock);
	b->source = source;
	b->firmware = fw;
	pthread_mutex_unlock(&u->lock);
	return r;
}

static void
build_one(struct kflash_update *u, struct kflash_context *ctx, size_t index, void *data)
{
	struct job_board *b = &u->boards[index];
	struct kf_scope prev;
	int r;

	(void)data;
	if (!b->go || kf_update_stop_early(u))
		return;
	prev = kf_scope_enter(ctx, KFLASH_PHASE_BUILD, b->name);
	r = get_firmware(u, ctx, b);
	if (r < 0)
		kf_update_fail_in(u, ctx, b, r);
	kf_scope_leave(ctx, prev);
}

/* How many boards make will run for: those to build, neither given nor taken as they are. */
static size_t
builds_to_run(const struct kflash_update *u)
{
	size_t n = 0;

	for (size_t i = 0; i < u->count; i++)
		n += u->boards[i].go && !u->boards[i].given && !(u->flags & KFLASH_UPDATE_NO_BUILD);
	return n;
}

void
kf_update_build_all(struct kflash_update *u)
{
	struct kflash_jobserver *js = NULL;
	size_t builds = builds_to_run(u);
	bool own_js = false;
	size_t jobs;

	/*
	 * Several builds at once share one job server, so that together they
	 * run no more compile jobs than there are CPUs (unless the caller set
	 * its own); one build, or one job at a time, runs alone.
	 */
	if (u->jobs != 1 && builds > 1 && !kflash_context_get_jobserver(u->ctx) &&
	    kflash_jobserver_new(u->ctx, 0, &js) == 0) {
		kflash_context_set_jobserver(u->ctx, js);
		own_js = true;
	}
	jobs = kflash_context_get_jobserver(u->ctx)
		       ? kflash_jobserver_get_slots(kflash_context_get_jobserver(u->ctx))
		       : 1;
	if (u->jobs && jobs > u->jobs)
		jobs = u->jobs;
	if (jobs > builds)
		jobs = builds;
	if (jobs > 1) {
		struct kf_scope prev = kf_scope_enter(u->ctx, KFLASH_PHASE_BUILD, NULL);

		kf_info(u->ctx, "building %zu boards at once, sharing %u compile jobs", jobs,
			kflash_jobserver_get_slots(kflash_context_get_jobserver(u->ctx)));
		kf_scope_leave(u->ctx, prev);
	}
	if (jobs <= 1 || !kf_update_run_parallel(u, u->count, jobs, build_one, NULL))
		for (size_t i = 0; i < u->count; i++)
			build_one(u, u->ctx, i, NULL);
	if (own_js)
		kflash_context_set_jobserver(u->ctx, NULL);
	kflash_jobserver_unref(js);
}

/* ---- boards that run their fresh build already ---- */

/* Klipper's live MCUs, when it answers; NULL when not (that is no error here). */
static struct kflash_klippy *
live_mcus(struct kflash_update *u)
{
	struct kflash_klippy *k = NULL;

	if (kflash_klippy_connect(u->ctx, &k) < 0 || kflash_klippy_query_status(k) < 0) {
		kf_debug(u->ctx, "the MCUs' versions cannot be asked: %s",
			 kflash_context_last_error(u->ctx));
		return kflash_klippy_unref(k);
	}
	return k;
}

/* The version Klipper reports for @board's MCU, or NULL. */
static const char *
live_version(struct kflash_klippy *k, const struct kflash_board *board)
{
	const char *section = kflash_board_get_klipper_mcu(board);

	for (size_t i = 0; k && section && i < kflash_klippy_get_mcu_count(k); i++)
		if (kf_streq(kflash_klippy_get_mcu_name(k, i), section))
			return kflash_klippy_get_mcu_version(k, i);
	return NULL;
}

/* Why board @b needs no flash, or NULL when it does. */
static const char *
why_current(struct kflash_update *u,
	    const struct job_board *b,
	    struct kflash_klippy **k,
	    bool *asked)
{
	const char *version = kflash_firmware_get_version(b->firmware);
	const char *live;

	if (b->source != KFLASH_FIRMWARE_UP_TO_DATE)
		return NULL;
	if (kflash_board_get_last_flash_ok(b->board) &&
	    kf_streq(kflash_board_get_last_flash_hash(b->board),
		     kflash_firmware_get_sha256(b->firmware)))
		return "its last flash was this very firmware";
	if (!version || !kflash_board_get_klipper_mcu(b->board))
		return NULL;
	if (!*asked) {
		*asked = true;
		*k = live_mcus(u);
	}
	live = live_version(*k, b->board);
	return live && strcmp(live, version) == 0 ? "Klipper reports its MCU runs this version"
						  : NULL;
}

void
kf_update_mark_current(struct kflash_update *u)
{
	struct kflash_klippy *k = NULL;
	bool asked = false;

	if (u->flags & KFLASH_UPDATE_REFLASH)
		return;
	for (size_t i = 0; i < u->count; i++) {
		struct job_board *b = &u->boards[i];
		struct kf_scope prev;
		const char *why;

		if (!b->go || !(why = why_current(u, b, &k, &asked)))
			continue;
		b->go = false;
		b->result = KFLASH_RESULT_CURRENT;
		prev = kf_scope_enter(u->ctx, KFLASH_PHASE_BUILD, b->name);
		kf_info(u->ctx, "runs %s already (%s): nothing to flash",
			kflash_firmware_get_version(b->firmware)
				? kflash_firmware_get_version(b->firmware)
				: "its current firmware",
			why);
		kf_scope_leave(u->ctx, prev);
	}
	kflash_klippy_unref(k);
}
