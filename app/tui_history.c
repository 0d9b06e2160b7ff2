/* The history pane's state: the listing of saved conversations (re-read
 * only where files changed), its display rows, and the '/' filter over them.
 * Drawing is ui/view.c's; the pane's keys are tui_cmds.c's. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui_app.h"

static void free_items(bc_tui *t) {
    free(t->items);
    free(t->item_entry);
    t->items = NULL;
    t->item_entry = NULL;
    t->n_items = 0;
}

void bc_tui_free_history(bc_tui *t) {
    free_items(t);
    bc_session_list_free(t->entries, t->n_entries);
    for (size_t i = 0; i < t->n_entries; i++) free(t->item_details[i]);
    free(t->item_details);
    t->entries = NULL;
    t->item_details = NULL;
    t->n_entries = 0;
}

/* Case-insensitive (ASCII letters) substring test; other bytes, UTF-8
 * included, must match exactly. */
static bool contains_folded(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return false;
}

void bc_tui_filter_history(bc_tui *t) {
    const bc_session_entry *was = bc_tui_selected_entry(t);
    char *was_path = was ? strdup(was->path) : NULL;
    free_items(t);
    t->items = calloc(t->n_entries ? t->n_entries : 1, sizeof *t->items);
    t->item_entry = calloc(t->n_entries ? t->n_entries : 1, sizeof *t->item_entry);
    if (!t->items || !t->item_entry) {
        free_items(t);
        free(was_path);
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i < t->n_entries; i++) {
        const char *detail = t->item_details[i] ? t->item_details[i] : "";
        if (!contains_folded(t->entries[i].title, t->pane_filter) &&
            !contains_folded(detail, t->pane_filter))
            continue;
        bc_view_item *it = &t->items[t->n_items];
        it->title = t->entries[i].title;
        it->detail = detail;
        it->corrupt = t->entries[i].corrupt;
        it->current = !strcmp(t->entries[i].path, t->session->path);
        if (was_path && !strcmp(t->entries[i].path, was_path)) keep = t->n_items;
        t->item_entry[t->n_items++] = i;
    }
    free(was_path);
    /* the selection stays on the same conversation when it is still shown */
    t->selected = keep < t->n_items ? keep : 0;
    t->dirty = true;
}

const bc_session_entry *bc_tui_selected_entry(const bc_tui *t) {
    if (!t->item_entry || t->selected >= t->n_items) return NULL;
    size_t e = t->item_entry[t->selected];
    return e < t->n_entries ? &t->entries[e] : NULL;
}

void bc_tui_refresh_history(bc_tui *t) {
    /* the previous listing spares re-reading the files that did not change */
    bc_session_entry *entries;
    size_t n;
    bc_error err;
    bc_error_clear(&err);
    int rc = bc_session_list_since(t->sessions_dir, t->entries, t->n_entries, &entries, &n, &err);
    size_t selected = t->selected;
    bc_tui_free_history(t);
    if (rc != 0) {
        bc_tui_status(t, true, "%s", err.msg);
        return;
    }
    t->entries = entries;
    t->n_entries = n;
    t->item_details = calloc(n ? n : 1, sizeof *t->item_details);
    if (!t->item_details) {
        bc_tui_free_history(t);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char date[32], buf[400];
        struct tm tm;
        time_t when = entries[i].created ? entries[i].created : entries[i].modified;
        localtime_r(&when, &tm);
        strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
        snprintf(buf, sizeof buf, "%s%s%s", date, entries[i].model[0] ? " · " : "",
                 entries[i].model);
        t->item_details[i] = strdup(buf);
    }
    bc_tui_filter_history(t);
    /* newest first: after a refresh the selection keeps its row */
    t->selected = selected < t->n_items ? selected : t->n_items ? t->n_items - 1 : 0;
}
