//! The catalogue: every problem type berth answers with, in one table.
//! Each row gives the slug (never changes), the HTTP status, the title, when
//! it happens and what a client should do, the extension members, the
//! response header that comes with it, and the example the OpenAPI document
//! shows. `ProblemType` and `ProblemType::ALL` are generated from the rows,
//! so a new type is one new row and nothing else to keep in step.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// What the catalogue says about one problem type.
pub struct ProblemInfo {
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// When it happens and what a client should do, for the docs page.
    pub when: &'static str,
    /// Extension members, each with its meaning and whether every problem
    /// of this type carries it.
    pub members: &'static [Member],
    /// A response header that comes with it: (name, meaning).
    pub header: Option<(&'static str, &'static str)>,
}

/// An extension member of a problem type.
pub struct Member {
    pub name: &'static str,
    pub meaning: &'static str,
    /// Every problem of the type carries it (the type's schema requires it);
    /// otherwise only where `meaning` says.
    pub always: bool,
}

const fn always(name: &'static str, meaning: &'static str) -> Member {
    Member { name, meaning, always: true }
}

const fn sometimes(name: &'static str, meaning: &'static str) -> Member {
    Member { name, meaning, always: false }
}

const RETRY: Option<(&str, &str)> = Some(("Retry-After", "seconds to wait before retrying"));
/// The member every refusal of create and reschedule carries.
const ALTERNATIVES: Member = sometimes(
    "alternatives",
    "on create, reschedule and joining a waiting list: up to 3 bookable `{start_at, end_at}` of the same length and quantity, nearest to the requested start within 7 days either side; `[]` when there is none",
);

/// The member a full interval's refusal of a new booking carries.
const WAITLIST_LENGTH: Member = sometimes(
    "waitlist_length",
    "on create: how many waiting-list entries wait for intervals overlapping this one (join with `POST /v1/waitlist`)",
);

/// The member a refusal of one item of a bundle carries.
const ITEM_POINTER: Member = sometimes(
    "item_pointer",
    "on a bundle (made, confirmed or moved): the item refused, `/items/<index in the bundle>`; nothing was changed",
);

/// One row per problem type; `example` is the detail and the extension
/// members of the documented example (the detail defaults to `when`).
macro_rules! catalogue {
    ($(
        $variant:ident {
            slug: $slug:literal,
            status: $status:literal,
            title: $title:literal,
            when: $when:literal,
            members: [$($member:expr),* $(,)?],
            header: $header:expr,
            example: ($($detail:literal)?, $example:tt) $(,)?
        }
    ),* $(,)?) => {
        /// Every problem type berth answers with. Slugs never change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProblemType {
            $($variant),*
        }

        impl ProblemType {
            /// Every type, in catalogue order.
            pub const ALL: &'static [ProblemType] = &[$(Self::$variant),*];

            pub fn info(self) -> &'static ProblemInfo {
                match self {
                    $(Self::$variant => &ProblemInfo {
                        slug: $slug,
                        status: $status,
                        title: $title,
                        when: $when,
                        members: {
                            const MEMBERS: &[Member] = &[$($member),*];
                            MEMBERS
                        },
                        header: $header,
                    }),*
                }
            }

            /// The documented example's detail and extension members.
            fn example_parts(self) -> (&'static str, Value) {
                match self {
                    $(Self::$variant => (catalogue!(@detail $when $(, $detail)?), json!($example))),*
                }
            }
        }
    };
    (@detail $when:literal) => { $when };
    (@detail $when:literal, $detail:literal) => { $detail };
}

catalogue! {
    CapacityExceeded {
        slug: "capacity-exceeded",
        status: 409,
        title: "Capacity exceeded",
        when: "The requested quantity does not fit: at some instant of the interval the resource's blocking bookings plus the request would exceed its capacity. Retry with at most `available` units, or another interval.",
        members: [
            always("resource_id", "the resource asked for"),
            always("capacity", "the resource's capacity"),
            always("requested", "the quantity asked for"),
            always("available", "the largest quantity that would fit over the whole interval"),
            WAITLIST_LENGTH,
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("Only 2 of the 3 requested units are free over the whole interval.",
            {"resource_id": "0193a5c2-7b1e-7c3a-9d2e-1f4b5c6d7e8f", "capacity": 10, "requested": 3, "available": 2, "waitlist_length": 0, "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    NoResourceAvailable {
        slug: "no-resource-available",
        status: 409,
        title: "No resource available",
        when: "A booking through a group found no member for which every rule passes (capacity, opening hours, policy, duplicates) over the interval. `alternatives` are the nearest intervals some member could take.",
        members: [always("group_id", "the group asked for"), WAITLIST_LENGTH, ALTERNATIVES, ITEM_POINTER],
        header: None,
        example: ("None of the group's 5 members is free over the whole interval.",
            {"group_id": "0193a5c2-8c2f-7d4b-ae3f-2a5c6d7e8f90", "waitlist_length": 3, "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}]}),
    },
    DuplicateBooking {
        slug: "duplicate-booking",
        status: 409,
        title: "Duplicate booking",
        when: "The customer already holds a blocking booking of this resource that overlaps the interval.",
        members: [
            always("existing_booking_id", "the booking that overlaps"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("The customer already has a booking of this resource that overlaps the interval.",
            {"existing_booking_id": "0193a5c2-8c2f-7d4b-8e3f-2a5b6c7d8e9f", "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    InvalidStateTransition {
        slug: "invalid-state-transition",
        status: 409,
        title: "Invalid state transition",
        when: "The action is not allowed from the booking's current status.",
        members: [
            always("current_status", "the booking's status now"),
            always("action", "the action that was refused"),
            always("allowed_actions", "the actions allowed from the current status"),
            ALTERNATIVES,
        ],
        header: None,
        example: ("A cancelled booking cannot be confirmed.",
            {"current_status": "cancelled", "action": "confirm", "allowed_actions": []}),
    },
    SeriesConflict {
        slug: "series-conflict",
        status: 409,
        title: "Series conflict",
        when: "Occurrences of a recurring series cannot be booked: in `all_or_nothing` mode any one refuses the series (nothing was booked); in `skip_conflicts` mode, every one did. `occurrences` lists each refused occurrence with the problem it alone would have got (its `type`, `detail` and `alternatives`): move or drop those and send the series again.",
        members: [always("occurrences", "every refused occurrence: `{start_at, end_at, type, code, title, status, detail, alternatives}`")],
        header: None,
        example: ("1 occurrences of the series cannot be booked; see `occurrences`.",
            {"occurrences": [{"start_at": "2027-12-21T17:00:00Z", "end_at": "2027-12-21T18:00:00Z", "type": "/problems/outside-opening-hours", "code": "outside-opening-hours", "title": "Outside opening hours", "status": 409, "detail": "The resource is closed at some time of the interval.", "alternatives": []}]}),
    },
    WaitlistNotNeeded {
        slug: "waitlist-not-needed",
        status: 409,
        title: "Waiting list not needed",
        when: "A request to join a waiting list that would be booked right now: `available` units are free over the whole interval and no one waiting before would take them. Book it instead.",
        members: [always("available", "the largest quantity that would fit over the whole interval")],
        header: None,
        example: ("2 units are free over the whole interval: book it instead of waiting.", {"available": 2}),
    },
    AlreadyOnWaitlist {
        slug: "already-on-waitlist",
        status: 409,
        title: "Already on the waiting list",
        when: "The customer already has a waiting or offered entry for an overlapping interval of this resource or group: one place per customer. Show or leave that entry.",
        members: [always("entry_id", "the customer's entry")],
        header: None,
        example: ("The customer already waits for an overlapping interval of this resource or group.",
            {"entry_id": "0193a5c2-9d3a-7e5c-bf4a-3b6d7e8f9a01"}),
    },
    WaitlistEntryClosed {
        slug: "waitlist-entry-closed",
        status: 409,
        title: "Waiting-list entry closed",
        when: "The entry is no longer in the queue (accepted, declined, expired, left or lapsed): nothing to leave.",
        members: [always("current_status", "the entry's status")],
        header: None,
        example: ("The entry is expired: it is no longer in the queue.", {"current_status": "expired"}),
    },
    HoldExpired {
        slug: "hold-expired",
        status: 409,
        title: "Hold expired",
        when: "The hold ran out before it was confirmed; the booking is now `expired`. Book again.",
        members: [always("hold_expired_at", "when the hold ran out"), ALTERNATIVES],
        header: None,
        example: ("The hold expired before it was confirmed.", {"hold_expired_at": "2026-11-22T10:10:00Z"}),
    },
    ResourceInactive {
        slug: "resource-inactive",
        status: 409,
        title: "Resource inactive",
        when: "The resource is deactivated: it takes no new bookings or reschedules.",
        members: [
            always("resource_id", "the inactive resource"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("The resource is inactive and takes no new bookings.",
            {"resource_id": "0193a5c2-7b1e-7c3a-9d2e-1f4b5c6d7e8f", "alternatives": []}),
    },
    CutoffPassed {
        slug: "cutoff-passed",
        status: 409,
        title: "Cut-off passed",
        when: "A customer may cancel or reschedule only until the resource's cut-off before the booking starts; that moment has passed. An admin can still do it.",
        members: [
            always("action", "`cancel` or `reschedule`"),
            always("cutoff_at", "the last instant the action was allowed"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("Bookings of this resource can be cancelled until 24 hours before they start.",
            {"action": "cancel", "cutoff_at": "2027-03-28T07:00:00Z", "alternatives": []}),
    },
    NoticeTooShort {
        slug: "notice-too-short",
        status: 409,
        title: "Notice too short",
        when: "The booking starts sooner than the resource's minimum notice allows. Start at `earliest_start_at` or later.",
        members: [
            always("min_notice_seconds", "the minimum notice"),
            always("earliest_start_at", "the earliest start allowed now"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("Bookings of this resource need 3600 s of notice.",
            {"min_notice_seconds": 3600, "earliest_start_at": "2027-03-29T08:00:00Z", "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    BeyondBookingHorizon {
        slug: "beyond-booking-horizon",
        status: 409,
        title: "Beyond the booking horizon",
        when: "The booking starts later than the resource takes bookings ahead. Start at `latest_start_at` or earlier, or come back later.",
        members: [
            always("max_advance_seconds", "how far ahead bookings are taken"),
            always("latest_start_at", "the latest start allowed now"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("This resource takes bookings up to 7776000 s ahead.",
            {"max_advance_seconds": 7776000, "latest_start_at": "2027-06-27T08:00:00Z", "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    OutsideOpeningHours {
        slug: "outside-opening-hours",
        status: 409,
        title: "Outside opening hours",
        when: "The booking does not lie wholly inside the resource's opening hours. `open_intervals` lists the open time of the local date it starts on.",
        members: [
            always("time_zone", "the resource's time zone, in which the hours are kept"),
            always("open_intervals", "that local date's open time: `{start_at, end_at}` in UTC and `{local_start, local_end}` in the resource's zone"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("The resource is open 09:00-17:00 (Europe/Berlin) that day.",
            {"time_zone": "Europe/Berlin", "open_intervals": [{"start_at": "2027-03-29T07:00:00Z", "end_at": "2027-03-29T15:00:00Z",
                "local_start": "2027-03-29T09:00:00+02:00", "local_end": "2027-03-29T17:00:00+02:00"}], "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    NotOnSlotGrid {
        slug: "not-on-slot-grid",
        status: 409,
        title: "Not on the slot grid",
        when: "Bookings of this resource start on a grid of `slot_step_seconds`, counted from the start of the open interval (local midnight without opening hours).",
        members: [
            always("slot_step_seconds", "the grid's step"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("Bookings start every 900 s from the opening time.", {"slot_step_seconds": 900, "alternatives": [{"start_at": "2027-03-29T11:00:00Z", "end_at": "2027-03-29T12:00:00Z"}, {"start_at": "2027-03-29T08:00:00Z", "end_at": "2027-03-29T09:00:00Z"}]}),
    },
    BookingLimitReached {
        slug: "booking-limit-reached",
        status: 409,
        title: "Booking limit reached",
        when: "The customer already holds as many active bookings (blocking, not yet ended) of this resource as its policy allows.",
        members: [
            always("limit", "the most active bookings a customer may hold"),
            always("active_bookings", "how many the customer holds"),
            ALTERNATIVES,
            ITEM_POINTER,
        ],
        header: None,
        example: ("A customer may hold 2 active bookings of this resource.", {"limit": 2, "active_bookings": 2, "alternatives": []}),
    },
    CapacityBelowCommitments {
        slug: "capacity-below-commitments",
        status: 409,
        title: "Capacity below commitments",
        when: "The new capacity is lower than the peak usage of the resource's future blocking bookings.",
        members: [always("peak_usage", "the highest number of units booked at one instant in the future")],
        header: None,
        example: ("Future bookings use up to 8 units at once; capacity cannot go below that.", {"peak_usage": 8}),
    },
    ResourceHasBookings {
        slug: "resource-has-bookings",
        status: 409,
        title: "Resource has bookings",
        when: "The resource has future blocking bookings and cannot be deleted; deactivate it instead.",
        members: [always("blocking_bookings", "how many future blocking bookings it has")],
        header: None,
        example: ("The resource has 3 future blocking bookings; deactivate it instead.", {"blocking_bookings": 3}),
    },
    AlreadyExists {
        slug: "already-exists",
        status: 409,
        title: "Already exists",
        when: "Another object already uses this unique value (resource names and customer e-mails are unique, ignoring case).",
        members: [always("field", "the field whose value is taken")],
        header: None,
        example: ("A resource named 'Court 1' already exists.", {"field": "name"}),
    },
    IdempotencyKeyInUse {
        slug: "idempotency-key-in-use",
        status: 409,
        title: "Idempotency key in use",
        when: "A request with this Idempotency-Key is still being processed. Retry after `Retry-After` seconds to get its outcome.",
        members: [],
        header: RETRY,
        example: (, {}),
    },
    PreconditionFailed {
        slug: "precondition-failed",
        status: 412,
        title: "Precondition failed",
        when: "The `If-Match` ETag does not match the current version: someone changed the object since you read it. Nothing was changed; read it again and reapply.",
        members: [always("current_etag", "the object's current ETag")],
        header: None,
        example: ("The ETag in If-Match is not the current one.", {"current_etag": "\"4\""}),
    },
    PreconditionRequired {
        slug: "precondition-required",
        status: 428,
        title: "Precondition required",
        when: "This write needs an `If-Match` header with the ETag you last read, so that it cannot overwrite a change you have not seen.",
        members: [always("required_header", "the header to send")],
        header: None,
        example: ("This request needs an If-Match header.", {"required_header": "If-Match"}),
    },
    ValidationError {
        slug: "validation-error",
        status: 422,
        title: "Validation error",
        when: "The request is well-formed but some values are not acceptable. Each entry of `errors` points at one value (a JSON Pointer into the body, or `/name` of a query parameter).",
        members: [always("errors", "a list of `{pointer, detail}`"), ITEM_POINTER],
        header: None,
        example: ("The request has 1 invalid value.",
            {"errors": [{"pointer": "/capacity", "detail": "must be between 1 and 1000000"}]}),
    },
    IdempotencyKeyReused {
        slug: "idempotency-key-reused",
        status: 422,
        title: "Idempotency key reused",
        when: "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
        members: [],
        header: None,
        example: (, {}),
    },
    MalformedRequest {
        slug: "malformed-request",
        status: 400,
        title: "Malformed request",
        when: "The request cannot be parsed: the body is not valid JSON, or a header has invalid syntax.",
        members: [],
        header: None,
        example: (, {}),
    },
    IdempotencyKeyInvalid {
        slug: "idempotency-key-invalid",
        status: 400,
        title: "Idempotency key invalid",
        when: "The Idempotency-Key header is not 1 to 255 visible ASCII characters (optionally in double quotes).",
        members: [],
        header: None,
        example: (, {}),
    },
    Unauthenticated {
        slug: "unauthenticated",
        status: 401,
        title: "Unauthenticated",
        when: "The request has no valid bearer token.",
        members: [],
        header: Some(("WWW-Authenticate", "the authentication scheme: Bearer")),
        example: (, {}),
    },
    Forbidden {
        slug: "forbidden",
        status: 403,
        title: "Forbidden",
        when: "The token is valid but its role may not do this.",
        members: [],
        header: None,
        example: (, {}),
    },
    NotFound {
        slug: "not-found",
        status: 404,
        title: "Not found",
        when: "No such object (or it is not yours to see), or no such route.",
        members: [],
        header: None,
        example: (, {}),
    },
    MethodNotAllowed {
        slug: "method-not-allowed",
        status: 405,
        title: "Method not allowed",
        when: "The route exists but not with this method.",
        members: [],
        header: Some(("Allow", "the methods the route accepts")),
        example: (, {}),
    },
    PayloadTooLarge {
        slug: "payload-too-large",
        status: 413,
        title: "Payload too large",
        when: "The request body is larger than the configured limit (1 MiB by default).",
        members: [],
        header: None,
        example: (, {}),
    },
    UnsupportedMediaType {
        slug: "unsupported-media-type",
        status: 415,
        title: "Unsupported media type",
        when: "The body must be sent as `Content-Type: application/json`.",
        members: [],
        header: None,
        example: (, {}),
    },
    RateLimited {
        slug: "rate-limited",
        status: 429,
        title: "Rate limited",
        when: "Too many requests from this caller. Wait `Retry-After` seconds.",
        members: [],
        header: RETRY,
        example: (, {}),
    },
    InternalError {
        slug: "internal-error",
        status: 500,
        title: "Internal error",
        when: "A bug in berth. The details are in the server log under the `instance` request id.",
        members: [],
        header: None,
        example: (, {}),
    },
    SchemaAheadOfBinary {
        slug: "schema-ahead-of-binary",
        status: 503,
        title: "Schema ahead of binary",
        when: "A newer release of berth has migrated the database, and this instance runs an older binary that does not know every migration: it refuses writes (reads are still served, and its readiness probe fails) until it is replaced. Nothing was changed; retry after `Retry-After` seconds, which reaches an up-to-date instance once the load balancer has taken this one out.",
        members: [],
        header: RETRY,
        example: ("The database has migrations this instance does not know; it accepts no writes until it is replaced.", {}),
    },
    ServiceUnavailable {
        slug: "service-unavailable",
        status: 503,
        title: "Service unavailable",
        when: "The database is unreachable, the request timed out, or a write lost too many races in a row. Nothing was changed; retry after `Retry-After` seconds.",
        members: [],
        header: RETRY,
        example: (, {}),
    },
}

impl ProblemType {
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.info().slug == slug)
    }

    pub fn slug(self) -> &'static str {
        self.info().slug
    }

    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.info().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A realistic example body, used in the OpenAPI document.
    pub fn example(self) -> Value {
        let info = self.info();
        let (detail, members) = self.example_parts();
        let mut body = json!({
            "type": format!("/problems/{}", info.slug),
            "code": info.slug,
            "title": info.title,
            "status": info.status,
            "detail": detail,
            "instance": "urn:uuid:0193a5c2-9d3a-7e5c-af4a-3b6c7d8e9fa0",
        });
        if let (Some(body), Value::Object(members)) = (body.as_object_mut(), members) {
            body.extend(members);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_slug(kind.slug()), Some(*kind));
        }
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
    }

    #[test]
    fn examples_carry_their_declared_members_and_status() {
        for kind in ProblemType::ALL {
            let example = kind.example();
            assert_eq!(example["status"], kind.info().status, "{}", kind.slug());
            // The `Problem` schema's maxLength of `title`.
            assert!(kind.info().title.chars().count() <= 100, "{}", kind.slug());
            for member in kind.info().members.iter().filter(|m| m.always) {
                assert!(example.get(member.name).is_some(), "{} example lacks {}", kind.slug(), member.name);
            }
            let standard = ["type", "code", "title", "status", "detail", "instance"];
            for name in example.as_object().into_iter().flat_map(|o| o.keys()) {
                let declared = kind.info().members.iter().any(|m| m.name == name);
                assert!(declared || standard.contains(&name.as_str()), "{} example has undeclared {name}", kind.slug());
            }
        }
    }
}
