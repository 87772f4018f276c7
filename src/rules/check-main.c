/* SPDX-License-Identifier: Apache-2.0 */
/* sentrace-rules-check FILE|DIR...: rules_check_main for the tests. */
#include "config.h"

#include "rules.h"

int main(int argc, char **argv)
{
	return rules_check_main(argc - 1, argv + 1);
}
