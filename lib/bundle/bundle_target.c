/* see mtls/bundle.h: the targets mtls bundle knows, by name, with the
 * facts each one implies (a password, a server, a default port). A leaf:
 * calls nothing else in bundle/. */
#include <string.h>
#include <strings.h>

#include "mtls/bundle.h"
#include "base/internal.h"

static const struct {
	const char *name;
	enum mtls_bundle_target t;
} targets[] = {
    {"nginx", MTLS_BUNDLE_NGINX},     {"apache", MTLS_BUNDLE_APACHE},
    {"apache2", MTLS_BUNDLE_APACHE},  {"httpd", MTLS_BUNDLE_APACHE},
    {"haproxy", MTLS_BUNDLE_HAPROXY}, {"stunnel", MTLS_BUNDLE_STUNNEL},
    {"stunnel4", MTLS_BUNDLE_STUNNEL}, {"tomcat", MTLS_BUNDLE_TOMCAT},
    {"activemq", MTLS_BUNDLE_ACTIVEMQ}, {"java", MTLS_BUNDLE_JAVA},
    {"curl", MTLS_BUNDLE_CURL},
};

int
mtls_bundle_target_parse(const char *s, enum mtls_bundle_target *out,
    struct mtls_err *err)
{
	size_t i;

	for (i = 0; s != NULL && i < MTLS_ARRAY_LEN(targets); i++) {
		if (strcasecmp(s, targets[i].name) == 0) {
			*out = targets[i].t;
			return 0;
		}
	}
	return mtls_err_set(err, MTLS_E_USAGE,
	    "unknown target '%s': use nginx, apache, haproxy, stunnel, "
	    "tomcat, activemq, java or curl", s ? s : "");
}

const char *
mtls_bundle_target_name(enum mtls_bundle_target t)
{
	switch (t) {
	case MTLS_BUNDLE_NGINX: return "nginx";
	case MTLS_BUNDLE_APACHE: return "apache";
	case MTLS_BUNDLE_HAPROXY: return "haproxy";
	case MTLS_BUNDLE_STUNNEL: return "stunnel";
	case MTLS_BUNDLE_TOMCAT: return "tomcat";
	case MTLS_BUNDLE_ACTIVEMQ: return "activemq";
	case MTLS_BUNDLE_JAVA: return "java";
	case MTLS_BUNDLE_CURL: return "curl";
	default: return "?";
	}
}

int
mtls_bundle_target_needs_pass(enum mtls_bundle_target t)
{
	return t == MTLS_BUNDLE_TOMCAT || t == MTLS_BUNDLE_ACTIVEMQ ||
	       t == MTLS_BUNDLE_JAVA;
}

int
mtls_bundle_target_is_server(enum mtls_bundle_target t)
{
	return t != MTLS_BUNDLE_JAVA && t != MTLS_BUNDLE_CURL;
}

const char *
mtls_bundle_default_port(enum mtls_bundle_target t)
{
	switch (t) {
	case MTLS_BUNDLE_TOMCAT: return "8443";
	case MTLS_BUNDLE_ACTIVEMQ: return "61617";
	case MTLS_BUNDLE_JAVA:
	case MTLS_BUNDLE_CURL: return NULL;
	default: return "443";
	}
}
