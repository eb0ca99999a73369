//! The rows of a query: [`Rows`] asks the host for a page at a time and
//! hands out [`Row`]s, each rebuilt from its flat values and read by column
//! name. A job iterates rows and never sees a page unless it asks for
//! [`pages`](Rows::pages): the page size bounds what crosses from the host
//! at once, not how the job is written.

use std::sync::Arc;

use super::value::unflatten;
use super::{Column, CqlValue, Error, FromCql, host};
use crate::__private::bindings::jobserver::job::cassandra::{Page, Value as Flat};
use crate::JobError;

/// The rows of one query, page by page: an iterator of `Result<Row, Error>`.
/// It ends after the last row, or after yielding an error.
pub struct Rows {
    pager: host::Pager,
    page: Option<PageLeft>,
    over: bool,
}

/// The current page's columns and the rows of it not yet handed out.
struct PageLeft {
    columns: Arc<[Column]>,
    rows: std::vec::IntoIter<Vec<Flat>>,
}

impl Rows {
    pub(crate) fn new(pager: host::Pager) -> Rows {
        Rows {
            pager,
            page: None,
            over: false,
        }
    }

    /// The rows a page at a time, as the host sends them (the rest of the
    /// current page first, when some rows were already taken).
    pub fn pages(mut self) -> impl Iterator<Item = Result<Vec<Row>, Error>> {
        std::iter::from_fn(move || {
            let PageLeft { columns, rows } = match self.page.take() {
                Some(page) if page.rows.len() > 0 => page,
                _ => match self.next_page()? {
                    Ok(page) => page,
                    Err(error) => return Some(Err(error)),
                },
            };
            let rows: Result<Vec<Row>, Error> = rows.map(|row| Row::rebuild(&columns, row)).collect();
            self.over |= rows.is_err();
            Some(rows)
        })
    }

    /// The next page from the host; `None` after the last, or once an error
    /// was yielded.
    fn next_page(&mut self) -> Option<Result<PageLeft, Error>> {
        if self.over {
            return None;
        }
        match self.pager.next_page() {
            Ok(Some(Page { columns, rows })) => Some(Ok(PageLeft {
                columns: columns.into(),
                rows: rows.into_iter(),
            })),
            Ok(None) => {
                self.over = true;
                None
            }
            Err(error) => {
                self.over = true;
                Some(Err(error))
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Row, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // Set only once the pages are done or an error was yielded: rows
        // left in a page after a row that did not parse are not handed out.
        if self.over {
            return None;
        }
        loop {
            if let Some(page) = &mut self.page
                && let Some(row) = page.rows.next()
            {
                let row = Row::rebuild(&page.columns, row);
                self.over |= row.is_err();
                return Some(row);
            }
            self.page = None;
            match self.next_page()? {
                Ok(page) => self.page = Some(page),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// One row of a query: its values, read by column name or position.
///
/// ```
/// # use job_sdk::cassandra::{CqlValue, Row};
/// # fn example(row: &Row) -> Result<(), job_sdk::JobError> {
/// let video: String = row.get("video")?;
/// let views: i64 = row.get("views")?; // an int, bigint or counter column
/// let tags: Vec<String> = row.get("tags")?; // null reads as empty
/// let rating: Option<f64> = row.get("rating")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[Column]>,
    values: Vec<CqlValue>,
}

impl Row {
    fn rebuild(columns: &Arc<[Column]>, flat: Vec<Flat>) -> Result<Row, Error> {
        let values = unflatten(flat).map_err(|e| Error::Other(format!("a row of the query does not parse: {e}")))?;
        if values.len() != columns.len() {
            return Err(Error::Other(format!(
                "a row of the query has {} values for its {} columns",
                values.len(),
                columns.len()
            )));
        }
        Ok(Row {
            columns: columns.clone(),
            values,
        })
    }

    /// The value of `column` read as `T`; an error naming the column and
    /// both types when it does not fit, or when there is no such column.
    pub fn get<T: FromCql>(&self, column: &str) -> Result<T, JobError> {
        let index = self.index(column).ok_or_else(|| {
            let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            JobError::new(format!(
                "the row has no column '{column}'; its columns are: {}",
                names.join(", ")
            ))
        })?;
        self.get_index(index)
    }

    /// The value of the column at `index` (from 0, in the query's order)
    /// read as `T`.
    pub fn get_index<T: FromCql>(&self, index: usize) -> Result<T, JobError> {
        let (Some(column), Some(value)) = (self.columns.get(index), self.values.get(index)) else {
            return Err(JobError::new(format!(
                "the row has no column {index}: it has {}, counted from 0",
                self.values.len()
            )));
        };
        T::from_cql(value).map_err(|e| JobError::new(format!("column '{}' ({}): {e}", column.name, column.type_)))
    }

    /// The value of `column` as it is; `None` when there is no such column.
    pub fn value(&self, column: &str) -> Option<&CqlValue> {
        self.index(column).and_then(|index| self.values.get(index))
    }

    /// The row's columns, with their CQL types, in the query's order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The row's values, in the order of its columns.
    pub fn values(&self) -> &[CqlValue] {
        &self.values
    }

    pub fn into_values(self) -> Vec<CqlValue> {
        self.values
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let column = |name: &str, type_: &str| Column {
            name: name.into(),
            type_: type_.into(),
        };
        let columns: Arc<[Column]> = vec![
            column("video", "text"),
            column("views", "counter"),
            column("tags", "set<text>"),
        ]
        .into();
        let flat = vec![
            Flat::Text("v1".into()),
            Flat::Counter(3_000_000_000),
            Flat::Set(2),
            Flat::Text("a".into()),
            Flat::Text("b".into()),
        ];
        Row::rebuild(&columns, flat).unwrap()
    }

    #[test]
    fn values_by_name_and_index() {
        let row = row();
        assert_eq!(row.get::<String>("video"), Ok("v1".into()));
        assert_eq!(row.get::<i64>("views"), Ok(3_000_000_000));
        assert_eq!(row.get::<Vec<String>>("tags"), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(row.get_index::<String>(0), Ok("v1".into()));
        assert_eq!(row.value("views"), Some(&CqlValue::Counter(3_000_000_000)));
        assert_eq!(row.value("nope"), None);
        let names: Vec<&str> = row.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["video", "views", "tags"]);
        assert_eq!(row.values().len(), 3);
    }

    #[test]
    fn mismatches_name_the_column_and_both_types() {
        let row = row();
        assert_eq!(
            row.get::<i32>("views"),
            Err(JobError::new(
                "column 'views' (counter): counter 3000000000 does not fit in i32"
            ))
        );
        assert_eq!(
            row.get::<i64>("video"),
            Err(JobError::new("column 'video' (text): text cannot be read as i64"))
        );
        assert_eq!(
            row.get::<i64>("Views"),
            Err(JobError::new(
                "the row has no column 'Views'; its columns are: video, views, tags"
            ))
        );
        assert_eq!(
            row.get_index::<i64>(3),
            Err(JobError::new("the row has no column 3: it has 3, counted from 0"))
        );
    }

    #[test]
    fn rows_that_do_not_match_their_columns_are_errors() {
        let columns: Arc<[Column]> = vec![Column {
            name: "a".into(),
            type_: "int".into(),
        }]
        .into();
        assert_eq!(
            Row::rebuild(&columns, vec![Flat::Int(1), Flat::Int(2)]),
            Err(Error::Other("a row of the query has 2 values for its 1 columns".into()))
        );
        assert!(matches!(
            Row::rebuild(&columns, vec![Flat::List(2), Flat::Int(1)]),
            Err(Error::Other(_))
        ));
    }
}
