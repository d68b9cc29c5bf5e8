//! A setting as the options hold it, so that no `const fn` builder ever has to drop a value.
//!
//! A `const fn` cannot run a destructor, and a builder that overwrites a field drops what was there.
//! So each setting that run-time code may give an owned value (a closure that captures values, an
//! owned string) is split in two: what the `const` builders write is `Copy` (a `fn` pointer, a
//! `&'static str`: nothing to drop), and the owned value sits beside it, written only by the
//! run-time (non-`const`) builders. [`Slot::current`] says which of the two is in force. A run-time
//! value that a `const` builder replaces later stays where it is, unused, until the options are
//! dropped: nothing is leaked or forgotten.

use std::sync::Arc;

/// A setting of plain (`Copy`) type `P`, or owned value `S` (a closure trait object, `str`).
pub(crate) struct Slot<P, S: ?Sized> {
    current: Current<P>,
    /// Written only by [`Slot::set_owned`], never from `const` code.
    owned: Option<Arc<S>>,
}

/// Which value of a [`Slot`] is in force.
#[derive(Clone, Copy)]
enum Current<P> {
    Unset,
    Plain(P),
    Owned,
}

impl<P: Copy, S: ?Sized> Slot<P, S> {
    /// Nothing set.
    pub(crate) const fn unset() -> Self {
        Self {
            current: Current::Unset,
            owned: None,
        }
    }

    /// Sets the plain value (`const`: only a `Copy` field is written).
    pub(crate) const fn set(&mut self, plain: P) {
        self.current = Current::Plain(plain);
    }

    /// Sets the plain value, or unsets the setting (`const`).
    pub(crate) const fn set_or_unset(&mut self, plain: Option<P>) {
        self.current = match plain {
            Some(plain) => Current::Plain(plain),
            None => Current::Unset,
        };
    }

    /// Sets an owned value (run time only: the one it replaces, if any, is dropped here).
    pub(crate) fn set_owned(&mut self, owned: Arc<S>) {
        self.owned = Some(owned);
        self.current = Current::Owned;
    }

    /// Whether a value is set.
    pub(crate) const fn is_set(&self) -> bool {
        !matches!(self.current, Current::Unset)
    }
}

impl<P: AsDyn<S>, S: ?Sized> Slot<P, S> {
    /// The value in force, if any.
    pub(crate) fn get(&self) -> Option<&S> {
        match &self.current {
            Current::Unset => None,
            Current::Plain(plain) => Some(plain.as_dyn()),
            Current::Owned => self.owned.as_deref(),
        }
    }
}

impl<P: Copy, S: ?Sized> Clone for Slot<P, S> {
    fn clone(&self) -> Self {
        Self {
            current: self.current,
            owned: self.owned.clone(),
        }
    }
}

/// A plain value seen as the owned type of its [`Slot`]: a `fn` as the closure trait object of the same
/// signature, a `&'static str` as a `str`.
pub(crate) trait AsDyn<S: ?Sized>: Copy {
    fn as_dyn(&self) -> &S;
}

impl AsDyn<str> for &'static str {
    fn as_dyn(&self) -> &str {
        self
    }
}

/// `AsDyn` for each hook signature: a `fn` pointer coerces to the trait object.
macro_rules! as_dyn {
    ($($plain:ty => $shared:ty),* $(,)?) => {
        $(impl AsDyn<$shared> for $plain {
            fn as_dyn(&self) -> &$shared {
                self
            }
        })*
    };
}
pub(crate) use as_dyn;

#[cfg(test)]
mod tests {
    use super::*;

    type Plain = fn(u8) -> u8;
    type Shared = dyn Fn(u8) -> u8 + Send + Sync;
    as_dyn!(Plain => Shared);

    const fn built_in_const() -> Slot<Plain, Shared> {
        let mut slot: Slot<Plain, Shared> = Slot::unset();
        slot.set(|n| n + 1);
        slot
    }

    #[test]
    fn the_last_setter_wins() {
        let mut slot = built_in_const();
        assert_eq!(slot.get().map(|f| f(1)), Some(2));
        let offset = 10;
        slot.set_owned(Arc::new(move |n| n + offset));
        assert_eq!(slot.get().map(|f| f(1)), Some(11));
        slot.set(|n: u8| n * 3);
        assert_eq!(slot.get().map(|f| f(2)), Some(6), "a plain value replaces an owned one");
        let copy = slot.clone();
        slot.set_or_unset(None);
        assert!(!slot.is_set() && slot.get().is_none());
        assert_eq!(copy.get().map(|f| f(2)), Some(6));
    }

    #[test]
    fn strings() {
        let mut slot: Slot<&'static str, str> = Slot::unset();
        slot.set("fixed");
        assert_eq!(slot.get(), Some("fixed"));
        slot.set_owned(Arc::from(String::from("owned")));
        assert_eq!(slot.get(), Some("owned"));
    }
}
