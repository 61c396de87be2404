#ifndef DJINN_CCURL_SHIM_H
#define DJINN_CCURL_SHIM_H
// libcurl's curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
// these typed wrappers are the only way the Swift code sets options and reads results.
#include <curl/curl.h>

typedef size_t (*djinn_curl_write_callback)(char *data, size_t size, size_t count, void *user);
typedef size_t (*djinn_curl_read_callback)(char *buffer, size_t size, size_t count, void *user);
typedef int (*djinn_curl_xferinfo_callback)(void *user, curl_off_t dltotal, curl_off_t dlnow,
                                            curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode djinn_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode djinn_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// libcurl copies string options, so `value` need only live for the call.
static inline CURLcode djinn_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode djinn_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode djinn_curl_setopt_write_function(CURL *handle, djinn_curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

/// Request bodies streamed from Swift (Docker archive uploads).
static inline CURLcode djinn_curl_setopt_read_function(CURL *handle, djinn_curl_read_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

/// Extra request headers; the list must live until the transfer is done.
static inline CURLcode djinn_curl_setopt_header_list(CURL *handle, struct curl_slist *headers) {
    return curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
}

/// Called once per response header line (status line included), CRLF still attached.
static inline CURLcode djinn_curl_setopt_header_function(CURL *handle, djinn_curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

static inline CURLcode djinn_curl_setopt_xferinfo_function(CURL *handle, djinn_curl_xferinfo_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

static inline CURLcode djinn_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// The string belongs to the handle: copy it before the next transfer or cleanup.
static inline CURLcode djinn_curl_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

// Macros Swift does not import (casts).
static const long djinn_curlauth_basic = (long)CURLAUTH_BASIC;
static const long djinn_curl_global_default = CURL_GLOBAL_DEFAULT;
static const size_t djinn_curl_readfunc_abort = CURL_READFUNC_ABORT;
static const long djinn_curl_usessl_try = (long)CURLUSESSL_TRY;
static const long djinn_curl_usessl_all = (long)CURLUSESSL_ALL;
/// CURLOPT_MAIL_RCPT_ALLOWFAILS; libcurl before 8.2 (Debian 12) spells it with three Ls.
#if LIBCURL_VERSION_NUM >= 0x080200
static const CURLoption djinn_curlopt_mail_rcpt_allowfails = CURLOPT_MAIL_RCPT_ALLOWFAILS;
#else
static const CURLoption djinn_curlopt_mail_rcpt_allowfails = CURLOPT_MAIL_RCPT_ALLLOWFAILS;
#endif

#endif
