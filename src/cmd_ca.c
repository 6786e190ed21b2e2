#include "cli.h"
int
cmd_ca(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 1;
}
