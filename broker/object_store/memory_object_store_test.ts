import { MemoryObjectStore } from "./memory_object_store.ts";
import { registerObjectStoreConformanceTests } from "./object_store_conformance.ts";

registerObjectStoreConformanceTests("MemoryObjectStore", () =>
  Promise.resolve({
    store: new MemoryObjectStore(),
    multipartThresholdBytes: 64 * 1024,
    cleanup: () => Promise.resolve(),
  }));
