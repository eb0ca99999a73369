//! [`Values`]: what a statement's bound values may be given as. Tuples of
//! Rust values read like the statement they bind (`(video, views)` for
//! `VALUES (?, ?)`), so a job rarely builds [`CqlValue`]s by hand; a `Vec`
//! or slice of them serves when the number of values is only known at run
//! time.

use super::CqlValue;

/// The values of a statement's bind markers (`?`), in order: `()` for none,
/// a tuple of things that convert into [`CqlValue`] (up to 12), or a `Vec`,
/// array or slice of `CqlValue`s.
///
/// ```
/// use job_sdk::cassandra::{CqlValue, Values};
///
/// assert_eq!(("v1", 3i64, None::<f64>).into_cql_values(), vec![
///     CqlValue::Text("v1".into()),
///     CqlValue::BigInt(3),
///     CqlValue::Null,
/// ]);
/// ```
pub trait Values {
    fn into_cql_values(self) -> Vec<CqlValue>;
}

impl Values for () {
    fn into_cql_values(self) -> Vec<CqlValue> {
        Vec::new()
    }
}

impl Values for Vec<CqlValue> {
    fn into_cql_values(self) -> Vec<CqlValue> {
        self
    }
}

impl Values for &Vec<CqlValue> {
    fn into_cql_values(self) -> Vec<CqlValue> {
        self.clone()
    }
}

impl Values for &[CqlValue] {
    fn into_cql_values(self) -> Vec<CqlValue> {
        self.to_vec()
    }
}

impl<const N: usize> Values for [CqlValue; N] {
    fn into_cql_values(self) -> Vec<CqlValue> {
        self.into()
    }
}

impl<const N: usize> Values for &[CqlValue; N] {
    fn into_cql_values(self) -> Vec<CqlValue> {
        self.to_vec()
    }
}

macro_rules! tuple_values {
    ($($name:ident)+) => {
        impl<$($name: Into<CqlValue>),+> Values for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_cql_values(self) -> Vec<CqlValue> {
                let ($($name,)+) = self;
                vec![$($name.into()),+]
            }
        }
    };
}

tuple_values!(A);
tuple_values!(A B);
tuple_values!(A B C);
tuple_values!(A B C D);
tuple_values!(A B C D E);
tuple_values!(A B C D E F);
tuple_values!(A B C D E F G);
tuple_values!(A B C D E F G H);
tuple_values!(A B C D E F G H I);
tuple_values!(A B C D E F G H I J);
tuple_values!(A B C D E F G H I J K);
tuple_values!(A B C D E F G H I J K L);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_gives_the_values_in_order() {
        let expected = vec![CqlValue::Int(1), CqlValue::Text("a".into())];
        assert_eq!(().into_cql_values(), vec![]);
        assert_eq!((1, "a").into_cql_values(), expected);
        assert_eq!(expected.clone().into_cql_values(), expected);
        assert_eq!((&expected).into_cql_values(), expected);
        assert_eq!(expected.as_slice().into_cql_values(), expected);
        let array = [CqlValue::Int(1), CqlValue::Text("a".into())];
        assert_eq!((&array).into_cql_values(), expected);
        assert_eq!(array.into_cql_values(), expected);
        assert_eq!((CqlValue::Int(1), String::from("a")).into_cql_values(), expected);
        assert_eq!((1,).into_cql_values(), vec![CqlValue::Int(1)]);
        let twelve = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12).into_cql_values();
        assert_eq!(twelve.len(), 12);
        assert_eq!(twelve[11], CqlValue::Int(12));
    }
}
