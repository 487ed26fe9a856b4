// postject ships no types; this is the one function scripts/build-exe.ts uses.
declare module "postject" {
  export function inject(
    file: string,
    resourceName: string,
    resource: Buffer,
    options?: { sentinelFuse?: string; machoSegmentName?: string; overwrite?: boolean },
  ): Promise<void>;
}
