/* SPDX-License-Identifier: MIT */
/* NULL-terminated lists of strings, for the CLI's own bookkeeping. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool
cli_strv_add_once(char ***v, const char *s)
{
	size_t n = 0;
	char **grown;

	for (; *v && (*v)[n]; n++)
		if (strcmp((*v)[n], s) == 0)
			return true;
	grown = realloc(*v, (n + 2) * sizeof(**v));
	if (!grown)
		return false;
	*v = grown;
	grown[n] = strdup(s);
	grown[n + 1] = NULL;
	return grown[n] != NULL;
}

void
cli_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
