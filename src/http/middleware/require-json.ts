// Bodies of JSON APIs must say they are JSON: anything else is refused with
// 415 before it is read, in the dialect's own error shape.
import type { Context, MiddlewareHandler } from "hono";

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export function requireJson(onWrongType: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  return async (c, next) => (JSON_TYPE.test(c.req.header("content-type") ?? "") ? next() : onWrongType(c));
}
