#!/usr/bin/env bash
# Chapter 05 keeps chapter 03's command line, routes, answers and log lines: chapter 03's whole
# suite, run against chapter 05's server. Run alone with `tests/run.sh test_05_as_chapter_03`.
CHAPTER_03_PROGRAM=05-production-server/server exec bash "$(dirname "$0")/test_03_custom_ca_validation.sh"
