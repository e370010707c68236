//! Reading a series: the series and its occurrences as they are now.

use crate::domain::{
    booking::Booking,
    ids::{CustomerId, SeriesId},
    series::Series,
};
use crate::service::{Db, ServiceError};
use crate::store::series as stored;

/// A series with its occurrences, in start order.
#[derive(Debug)]
pub struct Shown {
    pub series: Series,
    pub bookings: Vec<Booking>,
}

/// The series, if it exists and `owner` (when given) owns it.
pub async fn get(db: &Db, id: SeriesId, owner: Option<CustomerId>) -> Result<Shown, ServiceError> {
    let series = stored::find(db.conn(), id)
        .await?
        .filter(|s| owner.is_none_or(|owner| s.customer_id == owner))
        .ok_or(ServiceError::NotFound)?;
    let bookings = stored::bookings_of(db.conn(), id).await?;
    Ok(Shown { series, bookings })
}
