/* see base/clock.h */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtls/clock.h"
#include "base/clock.h"

static int64_t
ms_of(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0) {
		return 0;
	}
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mtls__now_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}

int64_t
mtls__mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

/* strftime with a literal pattern per style (-Wformat-nonliteral). %a and
 * %b would follow the locale, so the HTTP style is written by hand. */
static size_t
format_plain(const struct tm *tm, enum mtls__time_style style, char *buf,
    size_t len)
{
	switch (style) {
	case MTLS__TIME_HUMAN:
		return strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", tm);
	case MTLS__TIME_RFC3339:
		return strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", tm);
	case MTLS__TIME_RFC3339_MS:
		return strftime(buf, len, "%Y-%m-%dT%H:%M:%S", tm);
	case MTLS__TIME_DATE:
		return strftime(buf, len, "%Y-%m-%d", tm);
	case MTLS__TIME_ASN1:
		return strftime(buf, len, "%Y%m%d%H%M%SZ", tm);
	case MTLS__TIME_HTTP:
	default:
		return 0;
	}
}

static size_t
format_tm(const struct tm *tm, int millis, enum mtls__time_style style,
    char *buf, size_t len)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	size_t n;
	int w;

	if (len == 0) {
		return 0;
	}
	buf[0] = '\0';
	if (style == MTLS__TIME_HTTP) {
		if (tm->tm_wday < 0 || tm->tm_wday > 6 || tm->tm_mon < 0 ||
		    tm->tm_mon > 11) {
			return 0;
		}
		w = snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    days[tm->tm_wday], tm->tm_mday, months[tm->tm_mon],
		    tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec);
		if (w < 0 || (size_t)w >= len) {
			buf[0] = '\0';
			return 0;
		}
		return (size_t)w;
	}
	n = format_plain(tm, style, buf, len);
	if (n == 0) {
		buf[0] = '\0';
		return 0;
	}
	if (style == MTLS__TIME_RFC3339_MS) {
		w = snprintf(buf + n, len - n, ".%03dZ", millis);
		if (w < 0 || (size_t)w >= len - n) {
			buf[0] = '\0';
			return 0;
		}
		n += (size_t)w;
	}
	return n;
}

size_t
mtls__time_format_ms(int64_t ms, enum mtls__time_style style, char *buf,
    size_t len)
{
	int64_t secs = ms / 1000, rem = ms % 1000;
	time_t t;
	struct tm tm;

	if (rem < 0) {
		rem += 1000;
		secs--;
	}
	t = (time_t)secs;
	if ((int64_t)t != secs || gmtime_r(&t, &tm) == NULL) {
		if (len > 0) {
			buf[0] = '\0';
		}
		return 0;
	}
	return format_tm(&tm, (int)rem, style, buf, len);
}

size_t
mtls__time_format(int64_t secs, enum mtls__time_style style, char *buf,
    size_t len)
{
	if (secs > INT64_MAX / 1000 || secs < INT64_MIN / 1000) {
		if (len > 0) {
			buf[0] = '\0';
		}
		return 0;
	}
	return mtls__time_format_ms(secs * 1000, style, buf, len);
}

int64_t
mtls__time_of_asn1(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		return 0;
	}
	return (int64_t)timegm(&tm);
}

size_t
mtls__time_format_asn1(const ASN1_TIME *t, enum mtls__time_style style,
    char *buf, size_t len)
{
	struct tm tm;
	int w;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		w = snprintf(buf, len, "(invalid date)");
		return w < 0 || (size_t)w >= len ? 0 : (size_t)w;
	}
	/* Through seconds, so that every style sees a normalised tm (the
	 * weekday, for one, is not part of an ASN.1 time). */
	return mtls__time_format((int64_t)timegm(&tm), style, buf, len);
}

size_t
mtls_time_utc(int64_t secs, enum mtls_time_style style, char *buf,
    size_t len)
{
	switch (style) {
	case MTLS_TIME_HUMAN:
		return mtls__time_format(secs, MTLS__TIME_HUMAN, buf, len);
	case MTLS_TIME_RFC3339:
		return mtls__time_format(secs, MTLS__TIME_RFC3339, buf, len);
	case MTLS_TIME_DATE:
		return mtls__time_format(secs, MTLS__TIME_DATE, buf, len);
	default:
		if (len > 0) {
			buf[0] = '\0';
		}
		return 0;
	}
}
