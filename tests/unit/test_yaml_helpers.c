/* yaml_reader's shared helpers: key lookup by name, scalar text, and the
 * "plain JSON" test of parser events that the checkpoint index and the
 * safetensors header readers both apply. */
#include "bc_test.h"
#include "yaml_reader.h"

static void test_map_get(void) {
    const char *text = "a: 1\nb: {c: two}\n? [x]\n: seq-key\nd: [1, 2]\n";
    bc_yaml y;
    bc_error err = {{0}};
    if (bc_yaml_load(&y, "t.yaml", text, strlen(text), false, &err)) {
        CHECK(0, "load: %s", err.msg);
        return;
    }
    yaml_node_t *root = bc_yaml_root(&y);
    CHECK(!strcmp(bc_yaml_scalar(bc_yaml_map_get(&y.doc, root, "a")), "1"), "a scalar value by key");
    yaml_node_t *b = bc_yaml_map_get(&y.doc, root, "b");
    CHECK(b && !strcmp(bc_yaml_scalar(bc_yaml_map_get(&y.doc, b, "c")), "two"), "a nested mapping");
    CHECK(!bc_yaml_map_get(&y.doc, root, "x") && !bc_yaml_map_get(&y.doc, root, "missing"),
          "a non-scalar key never matches; a missing key is NULL");
    yaml_node_t *d = bc_yaml_map_get(&y.doc, root, "d");
    CHECK(d && !bc_yaml_scalar(d) && !bc_yaml_map_get(&y.doc, d, "1"),
          "a list is neither a scalar nor a mapping to look in");
    CHECK(!bc_yaml_map_get(&y.doc, NULL, "a") && !bc_yaml_scalar(NULL), "NULL nodes give NULL");
    bc_yaml_free(&y);
}

/* Number of events of `text` that are not plain JSON (-1: parse error). */
static int count_not_plain(const char *text) {
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int bad = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) { bad = -1; break; }
        bad += !bc_json_event_is_plain(&ev);
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    return bad;
}

static void test_json_events(void) {
    CHECK(count_not_plain("{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}}") == 0, "JSON is plain");
    CHECK(count_not_plain("{\"a\": &x 1, \"b\": *x}") == 2, "a scalar anchor and an alias are not");
    CHECK(count_not_plain("{\"a\": !!str 1}") == 1, "a scalar tag is not");
    CHECK(count_not_plain("{\"a\": &m {\"k\": 1}}") == 1, "a mapping anchor is not");
    CHECK(count_not_plain("{\"a\": !t [1]}") == 1, "a sequence tag is not");
    CHECK(count_not_plain("!!map {\"a\": 1}") == 1, "a tag on the root mapping is not");
}

int main(void) {
    test_map_get();
    test_json_events();
    return bc_test_done();
}
