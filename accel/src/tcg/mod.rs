//! TCG: translated guest code — run loop, translation-block cache, softmmu.
