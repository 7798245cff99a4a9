//! A [`tower`](https://docs.rs/tower) middleware that puts a breaker in front of a service.
//!
//! ```
//! use std::convert::Infallible;
//! use hardening_breaker::{Breaker, tower::BreakerLayer};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # futures_executor::block_on(async {
//! let breaker = Breaker::builder("echo").build();
//! let mut service = BreakerLayer::new(breaker.clone())
//!     .layer(service_fn(|request: u32| async move { Ok::<_, Infallible>(request * 2) }));
//! let response = service.ready().await.unwrap().call(21).await.unwrap();
//! assert_eq!(response, 42);
//! assert_eq!(breaker.metrics().successful_total, 1);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::Breaker;
use crate::classify::{Classifier, ErrIsFailure};
use crate::error::{CallError, NotPermitted};
use crate::permit::OwnedPermit;

/// Wraps services in a [`BreakerService`] that shares one breaker.
#[derive(Debug, Clone)]
pub struct BreakerLayer<C = ErrIsFailure> {
    breaker: Breaker,
    classifier: C,
}

impl BreakerLayer {
    /// A layer that counts every `Err` as a failure.
    pub fn new(breaker: Breaker) -> Self {
        BreakerLayer {
            breaker,
            classifier: ErrIsFailure,
        }
    }
}

impl<C> BreakerLayer<C> {
    /// The same layer with another classifier (for example, to count 5xx responses as
    /// failures).
    pub fn with_classifier<C2>(self, classifier: C2) -> BreakerLayer<C2> {
        BreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = BreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service whose calls pass through a breaker. A rejected call fails at once with
/// [`CallError::NotPermitted`] and never reaches the inner service; `poll_ready` is the inner
/// service's own, so the breaker never holds back readiness.
#[derive(Debug, Clone)]
pub struct BreakerService<S, C = ErrIsFailure> {
    inner: S,
    breaker: Breaker,
    classifier: C,
}

impl<S, C> BreakerService<S, C> {
    /// The breaker in front of the service.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, C, Request> Service<Request> for BreakerService<S, C>
where
    S: Service<Request>,
    C: Classifier<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => ResponseFuture {
                state: State::Called {
                    future: self.inner.call(request),
                    permit: Some(permit),
                    classifier: self.classifier.clone(),
                },
            },
            Err(rejection) => ResponseFuture {
                state: State::Rejected {
                    rejection: Some(rejection),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`BreakerService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, C> {
        Called {
            #[pin]
            future: F,
            permit: Option<OwnedPermit>,
            classifier: C,
        },
        Rejected {
            rejection: Option<NotPermitted>,
        },
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classifier<T, E>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = std::task::ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(CallError::Inner))
            }
            // A finished future polled again stays pending rather than panicking.
            StateProj::Rejected { rejection } => match rejection.take() {
                Some(rejection) => Poll::Ready(Err(CallError::NotPermitted(rejection))),
                None => Poll::Pending,
            },
        }
    }
}
