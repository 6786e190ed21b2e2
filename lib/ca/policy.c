/* see mtls/ca.h: named signing policies, stored in the inventory */
#include <stdlib.h>
#include <string.h>

#include "ca/ca_internal.h"
#include "ca/inventory.h"
#include "base/internal.h"

static int
policy_fail(struct mtls_ca *ca, const char *what, struct mtls_err *err)
{
	return mtls_err_set(err, MTLS_E_IO, "inventory: %s: %s", what,
	    sqlite3_errmsg(mtls__inv_db(ca->inv)));
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

int
mtls_policy_save(struct mtls_ca *ca, const struct mtls_sign_policy *pol,
    int force, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (mtls__ca_check_name(pol->name, err) != 0) {
		return -1;
	}
	if (pol->profile == MTLS_PROFILE_OCSP) {
		return mtls_err_set(err, MTLS_E_POLICY, "a signing policy for "
		    "partners cannot use the ocsp profile");
	}
	if (sqlite3_prepare_v2(mtls__inv_db(ca->inv), force
		? "INSERT OR REPLACE INTO policies VALUES(?1,?2,?3,?4,?5,?6,?7,"
		  "strftime('%s','now'))"
		: "INSERT INTO policies VALUES(?1,?2,?3,?4,?5,?6,?7,"
		  "strftime('%s','now'))", -1, &s, NULL) != SQLITE_OK) {
		return policy_fail(ca, "saving a policy", err);
	}
	sqlite3_bind_text(s, 1, pol->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mtls_profile_name(pol->profile), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, or_empty(pol->subject), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, or_empty(pol->subject_allow), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, or_empty(pol->sans), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, or_empty(pol->san_allow), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 7, pol->days);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_CONSTRAINT) {
		return mtls_err_set(err, MTLS_E_EXISTS, "a signing policy named "
		    "'%s' exists (give --force to replace it)", pol->name);
	}
	return rc == SQLITE_DONE ? 0 : policy_fail(ca, "saving a policy", err);
}

static const char *
or_null(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t != NULL && *t != '\0' ? t : NULL;
}

int
mtls_policy_get(struct mtls_ca *ca, const char *name, mtls_policy_cb *cb,
    void *arg, struct mtls_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc, ret = 0, rows = 0;

	if (sqlite3_prepare_v2(mtls__inv_db(ca->inv), "SELECT name,profile,"
		"subject,subject_allow,sans,san_allow,days FROM policies "
		"WHERE ?1 IS NULL OR name=?1 ORDER BY name", -1, &s, NULL) != SQLITE_OK) {
		return policy_fail(ca, "reading policies", err);
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct mtls_sign_policy p;

		memset(&p, 0, sizeof(p));
		p.name = or_null(s, 0);
		if (mtls_profile_parse((const char *)sqlite3_column_text(s, 1),
			&p.profile, err) != 0) {
			ret = -1;
			break;
		}
		p.subject = or_null(s, 2);
		p.subject_allow = or_null(s, 3);
		p.sans = or_null(s, 4);
		p.san_allow = or_null(s, 5);
		p.days = sqlite3_column_int(s, 6);
		rows++;
		ret = cb(&p, arg);
		if (ret != 0) {
			break;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		ret = policy_fail(ca, "reading policies", err);
	}
	sqlite3_finalize(s);
	if (ret == 0 && rows == 0 && name != NULL) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no signing policy named "
		    "'%s' (see 'mtls policy list')", name);
	}
	return ret;
}

int
mtls_policy_remove(struct mtls_ca *ca, const char *name, struct mtls_err *err)
{
	sqlite3 *db = mtls__inv_db(ca->inv);
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM policies WHERE name=?1", -1, &s,
		NULL) != SQLITE_OK) {
		return policy_fail(ca, "removing a policy", err);
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		return policy_fail(ca, "removing a policy", err);
	}
	if (sqlite3_changes(db) == 0) {
		return mtls_err_set(err, MTLS_E_NOTFOUND, "no signing policy named "
		    "'%s' (see 'mtls policy list')", name);
	}
	return 0;
}
