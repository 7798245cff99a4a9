//! The pipeline as `tower` middleware.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{Pipeline, PipelineError};

/// Puts a [`Pipeline`] in front of a [`tower`](https://docs.rs/tower) service.
///
/// Each attempt calls a clone of the inner service with a clone of the request (a retry needs
/// both again), once the breaker and the rate limiter have let it through and a bulkhead slot
/// is held, after waiting for that clone to be ready; the wait counts against the timeout.
/// The wrapped service is always ready itself: readiness is the pipeline's business.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use hardening::breaker::Breaker;
/// use hardening::pipeline::{Pipeline, PipelineLayer};
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// let pipeline = Pipeline::builder("echo").breaker(Breaker::builder("echo").build()).build()?;
/// let mut service = PipelineLayer::new(pipeline)
///     .layer(service_fn(|n: u32| async move { Ok::<_, Infallible>(n * 2) }));
/// assert_eq!(service.ready().await?.call(21).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PipelineLayer {
    pipeline: Pipeline,
}

impl PipelineLayer {
    /// A layer running every request through `pipeline`. Services it wraps share the
    /// pipeline's stages.
    pub fn new(pipeline: Pipeline) -> Self {
        PipelineLayer { pipeline }
    }
}

impl<S> Layer<S> for PipelineLayer {
    type Service = PipelineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            pipeline: self.pipeline.clone(),
            inner,
        }
    }
}

/// A service wrapped by a [`PipelineLayer`]; its errors are [`PipelineError`]s around the
/// inner service's.
#[derive(Debug, Clone)]
pub struct PipelineService<S> {
    pipeline: Pipeline,
    inner: S,
}

impl<S> PipelineService<S> {
    /// The pipeline in front of the service.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The response future of a [`PipelineService`].
type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, PipelineError<E>>> + Send>>;

impl<S, R> Service<R> for PipelineService<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    R: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = PipelineError<S::Error>;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        let pipeline = self.pipeline.clone();
        let inner = self.inner.clone();
        Box::pin(pipeline.call_owned(move || {
            let mut service = inner.clone();
            let request = request.clone();
            async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                service.call(request).await
            }
        }))
    }
}
