/* The command's terminal password prompt (see prompt.c). */
#ifndef MTLS_SRC_PROMPT_H
#define MTLS_SRC_PROMPT_H

/* Registers the terminal prompt with libmtls. */
void cli_prompt_install(void);

#endif
