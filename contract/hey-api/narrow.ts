// A third generator, @hey-api/openapi-ts, narrows berth's problems too:
// its types for `POST /v1/bookings` list each status's problem types as a
// union discriminated by `code` (from the spec's `discriminator`), so this
// switch is checked for exhaustiveness and each case sees only its type's
// members. Type-checked by contract/run (no emit).
import type { CreateBookingErrors } from "./generated/types.gen";

/** A booking refused with 409: the units a retry can ask for, 0 when no retry of this interval can pass. */
export function unitsToRetryWith(problem: CreateBookingErrors[409]): number {
  switch (problem.code) {
    case "capacity-exceeded":
      return problem.available;
    case "idempotency-key-in-use":
      return -1; // the first request is still running: wait, then replay it
    case "no-resource-available":
    case "duplicate-booking":
    case "booking-limit-reached":
    case "notice-too-short":
    case "beyond-booking-horizon":
    case "outside-opening-hours":
    case "not-on-slot-grid":
    case "resource-inactive":
      return 0;
    default: {
      const unhandled: never = problem;
      return unhandled;
    }
  }
}

/** A 422: where each invalid value is. */
export function pointers(problem: CreateBookingErrors[422]): string[] {
  switch (problem.code) {
    case "validation-error":
      return problem.errors.map((error) => error.pointer);
    case "idempotency-key-reused":
      return [];
    default: {
      const unhandled: never = problem;
      return unhandled;
    }
  }
}
