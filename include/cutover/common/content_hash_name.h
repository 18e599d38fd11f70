#pragma once

#include <string_view>

namespace cutover {

// Whether a site path ("assets/index-DqTC_HVI.js", no leading '/') names a file whose name
// changes whenever its content does, the way bundlers name their output. The edge caches such
// files for a year and the pipeline guards that promise across deploys, so both ask here.
//
// A wrong "yes" makes browsers keep stale bytes for a year; a wrong "no" only costs caching. So
// the rule recognises the documented output of the bundlers people use and leaves anything that
// reads like words or numbers alone:
//  - a folder only content-addressed files go to: Next.js `_next/static/`, SvelteKit
//    `_app/immutable/`, Astro `_astro/` (at the root or below a base path);
//  - Vite/Rollup `[name]-[hash]`: 8 base64url characters after the last '-' of the name, which
//    may themselves hold '-' and '_' ("User-Bc7iC-cz.js");
//  - esbuild and Angular CLI `[name]-[hash]`: 8 base32 characters (A-Z, 2-7) with a digit, or
//    any 8 of them in esbuild's `chunk-[hash]`;
//  - webpack `[contenthash]`, Parcel, Angular CLI's older builder, Astro and SvelteKit
//    `[name].[hash]`: a '.'- or '-'-separated part after the first, of 8 to 64 characters.
// A candidate counts only if some piece of it (split at '-' and '_') cannot be a word or a
// number: "3f9a1c2e", "DRjBlKSy" and "Bc7iC" are hashes; "SemiBoldItalic", "20260101",
// "1920x1080", "ES2015" and "settings" are not. Hashes that happen to read like words (about 1 in
// 20 for Vite, 1 in 5 for esbuild) are missed.
[[nodiscard]] bool hasContentHashName(std::string_view path);

}  // namespace cutover
