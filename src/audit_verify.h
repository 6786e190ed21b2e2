/* `mtls audit verify`: checks the receiver's hash-chained audit log. */
#ifndef MTLS_SRC_AUDIT_VERIFY_H
#define MTLS_SRC_AUDIT_VERIFY_H

int audit_verify(int argc, char **argv);

#endif
