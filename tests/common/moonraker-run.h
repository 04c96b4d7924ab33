/* SPDX-License-Identifier: MIT */
/* Run the fake Moonraker (tests/fakes/moonraker-server.c) from a test. */
#pragma once

#include <sys/types.h>

/*
 * Start the fake Moonraker on the socket @sock, appending its calls to
 * @log, with the unit states in @state_dir (the fake systemctl's), and the
 * further arguments @extra (NULL-terminated, or NULL). Returns its pid once
 * its socket is there; the socket is open to every user, so that a test
 * that drops root can use it too.
 */
pid_t
kf_moonraker_start(const char *sock,
		   const char *log,
		   const char *state_dir,
		   const char *const *extra);

/* Stop it (SIGTERM) and wait for it; 0 does nothing. */
void
kf_moonraker_stop(pid_t pid);
