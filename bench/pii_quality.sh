#!/usr/bin/env bash
# bench/pii_quality.sh: the full planted-PII quality check of filter.pii.
#
# 2,000 seeded documents with 50 planted items each: e-mail addresses, public
# IPv4/IPv6 addresses, phone numbers (+CC, 00CC, NANP, national trunk-0
# formats) and Luhn-valid card numbers (Visa, Mastercard, Amex, Discover;
# spaced, hyphenated, compact) in random surroundings, and as many
# look-alikes (years, amounts, dates, times, versions, ISBNs, postal codes,
# order numbers, coordinates, MAC addresses, private and documentation IPs,
# numbers failing Luhn, retina file names). Prints recall per kind and the
# share of look-alikes altered. Goals: >= 99% found overall, >= 97% per
# kind, <= 1% of look-alikes altered, nothing changed outside planted items.
# The test suite runs the same check on 100 documents.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -run 'TestPlantedQuality|TestRedactKeepsSurroundings' -v ./filter/pii/ -pii.full |
	grep -E 'found|altered|missed|false|^(--- |ok|FAIL)'
