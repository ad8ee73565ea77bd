/* Benchmark: a mixed integer workload in the spirit of embedded suites (our own code):
 * linked-list build/reverse/insertion-sort/search, a table-free state machine that scans text for
 * numbers, bitwise CRC-32, and a small int16 matrix kernel. Each phase folds into one checksum. */
#include "rt.h"

#define NODES 600
#define ITER 2000

struct node { struct node *next; int32_t key; int32_t val; };
static struct node pool[NODES];

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static struct node *list_build(uint32_t seed)
{
    struct node *head = 0;
    for (int i = 0; i < NODES; i++) {
        seed = seed * 1664525u + 1013904223u;
        pool[i].key = (int32_t)(seed >> 20);
        pool[i].val = i;
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static struct node *list_reverse(struct node *h)
{
    struct node *prev = 0;
    while (h) {
        struct node *n = h->next;
        h->next = prev;
        prev = h;
        h = n;
    }
    return prev;
}

static struct node *list_sort(struct node *h)
{
    struct node *sorted = 0;
    while (h) {
        struct node *n = h->next, **pp = &sorted;
        while (*pp && (*pp)->key < h->key)
            pp = &(*pp)->next;
        h->next = *pp;
        *pp = h;
        h = n;
    }
    return sorted;
}

static uint32_t list_fold(struct node *h, int32_t find)
{
    uint32_t acc = 0, pos = 0, found = 0xffffffff;
    for (; h; h = h->next, pos++) {
        acc = acc * 33 + (uint32_t)h->key + (uint32_t)h->val;
        if (h->key == find && found == 0xffffffff)
            found = pos;
    }
    return acc ^ found;
}

enum { S_SPACE, S_INT, S_FRAC, S_EXP, S_BAD };

/* Counts well-formed numbers like 12, -3.5, 6e7 and sums their integer parts. */
static uint32_t scan_numbers(const char *s, uint32_t *sum)
{
    int st = S_SPACE;
    uint32_t count = 0, cur = 0;
    for (;; s++) {
        char c = *s;
        int digit = c >= '0' && c <= '9';
        int sep = c == ' ' || c == ',' || c == 0;
        switch (st) {
        case S_SPACE:
            if (digit) { st = S_INT; cur = (uint32_t)(c - '0'); }
            else if (c == '-') { st = S_INT; cur = 0; }
            else if (!sep) st = S_BAD;
            break;
        case S_INT:
            if (digit) cur = cur * 10 + (uint32_t)(c - '0');
            else if (c == '.') st = S_FRAC;
            else if (c == 'e') st = S_EXP;
            else if (sep) { count++; *sum += cur; st = S_SPACE; }
            else st = S_BAD;
            break;
        case S_FRAC:
        case S_EXP:
            if (digit) break;
            if (c == 'e' && st == S_FRAC) st = S_EXP;
            else if (sep) { count++; *sum += cur; st = S_SPACE; }
            else st = S_BAD;
            break;
        default:
            if (sep) st = S_SPACE;
        }
        if (!c)
            return count;
    }
}

static int16_t MA[12][12], MB[12][12];
static int32_t MC[12][12];

static uint32_t matrix_phase(int seed)
{
    uint32_t acc = 0;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) {
            MA[i][j] = (int16_t)((i * 7 + j * 3 + seed) % 97 - 48);
            MB[i][j] = (int16_t)((i * 5 - j * 11 + seed) % 89);
        }
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) {
            int32_t s = 0;
            for (int k = 0; k < 12; k++)
                s += MA[i][k] * MB[k][j];
            MC[i][j] = s;
            acc += (uint32_t)(s > 0 ? s >> 2 : -s);
        }
    return acc;
}

static const char text[] =
    "12 7 -3.5 44e3 x9 100,200 3.14e0 bad. 0 65535 -0 1e 12.5.6 777 8,9 42";

int main(void)
{
    uint64_t start = read_minstret();
    uint32_t crc = 0;
    for (int it = 0; it < ITER; it++) {
        struct node *h = list_build((uint32_t)it * 2654435761u);
        h = list_reverse(h);
        h = list_sort(h);
        uint32_t lf = list_fold(h, pool[it * 7 % NODES].key);
        uint32_t nsum = 0, cnt = scan_numbers(text, &nsum);
        uint32_t mx = matrix_phase(it);
        uint32_t words[4] = {lf, cnt, nsum, mx};
        crc = crc32_update(crc, (const uint8_t *)words, sizeof words);
        crc = crc32_update(crc, (const uint8_t *)pool, sizeof pool / 8);
    }
    /* anchor: CRC-32 of "123456789" is cbf43926 */
    uint64_t anchor = crc32_update(0, (const uint8_t *)"123456789", 9);
    return bench_report("mix", (anchor << 32) | crc, read_minstret() - start);
}
