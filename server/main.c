/* main.c - chatroomd start-up (placeholder until the core lands). */
#include "config.h"
#include <stdio.h>
int main(void) { fprintf(stderr, "chatroomd: not built yet\n"); return 1; }
